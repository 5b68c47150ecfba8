package chatapi

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// The fixed vector. wantHMAC was computed outside Go:
//
//	printf 'TLS.identifier:administrator\nTLS.sdkappid:1400000001\nTLS.time:1700000000\nTLS.expire:86400\n' |
//	  openssl dgst -sha256 -hmac 'test-secret-key' -binary | base64
const (
	vecAppID    = int64(1400000001)
	vecKey      = "test-secret-key"
	vecID       = "administrator"
	vecTime     = int64(1700000000)
	vecExpire   = 86400 * time.Second
	vecWantHMAC = "pOexNozfB0Dq+etkb7EtrffudxQMJeJcWLsCmftWbKA="
	// vecPython is the same UserSig made by Python's json and zlib (other
	// key spacing, another deflate implementation), as Tencent's Python
	// library does; it must verify here.
	vecPython = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkElNyM-Myi0uKEkvyi2BKilOyEwsKMlOACgxNDCDAECqXWlGQWZQKlLEwA0pBBUsyc0FChuZQxTDx4sx0kCUF-qkVfvlVaU4GLoXaqSXZSeauJUVpaaUpFYG*XqleyeE*xc65aSXhSd6Otkq1AGX4Nqc_"
	// vecPythonUserBuf carries TLS.userbuf "YWJj" (base64 of "abc").
	vecPythonUserBuf = "eJw9jVELgjAURv*K7DlERTSCHkKKUANBIXxcbMq1pnNuIkT-vS1n9-Gcw3ffqMpLd6YCHRwUuB7aOT8ChPYSGlgFJgx6mKTAchBbMpEn5hyIDvzQW8*3ji4cBNVmH2lloQRmkB-beONqouKhGvOovqfdfx9ag6IiUZdEDvE4X29ZflqoCmNWsDqAKhvPUZc1L1Gmac-bI-p8AUfvPIc_"
)

// TestGenUserSigFixedVector redoes the five documented steps by hand and
// compares each stage with what GenUserSig produced.
func TestGenUserSigFixedVector(t *testing.T) {
	now := time.Unix(vecTime, 0)
	got, err := GenUserSig(vecAppID, vecKey, vecID, vecExpire, now)
	if err != nil {
		t.Fatal(err)
	}

	// Step 1: the content string, each line ending in "\n".
	content := "TLS.identifier:administrator\n" +
		"TLS.sdkappid:1400000001\n" +
		"TLS.time:1700000000\n" +
		"TLS.expire:86400\n"
	// Step 2: base64 std of HMAC-SHA256 keyed with the secret key.
	mac := hmac.New(sha256.New, []byte(vecKey))
	mac.Write([]byte(content))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if sig != vecWantHMAC {
		t.Fatalf("hand HMAC %s, openssl says %s", sig, vecWantHMAC)
	}
	// Step 3: the JSON, numbers as numbers.
	wantJSON := `{"TLS.ver":"2.0","TLS.identifier":"administrator","TLS.sdkappid":1400000001,` +
		`"TLS.expire":86400,"TLS.time":1700000000,"TLS.sig":"` + vecWantHMAC + `"}`
	// Step 4: zlib.
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write([]byte(wantJSON)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	// Step 5: std base64 with + → *, / → -, = → _.
	b64 := base64.StdEncoding.EncodeToString(z.Bytes())
	want := strings.NewReplacer("+", "*", "/", "-", "=", "_").Replace(b64)
	if got != want {
		t.Errorf("GenUserSig = %s\nhand-made   %s", got, want)
	}

	// And undo GenUserSig's output by hand, comparing the JSON byte for byte.
	if js := sigJSON(t, got); js != wantJSON {
		t.Errorf("decoded JSON\n%s\nwant\n%s", js, wantJSON)
	}
	if strings.ContainsAny(got, "+/=") {
		t.Errorf("UserSig %q still has + / or =", got)
	}
}

func TestVerifyUserSigInterop(t *testing.T) {
	now := time.Unix(vecTime+60, 0)
	if err := VerifyUserSig(vecAppID, vecKey, vecID, vecPython, now); err != nil {
		t.Errorf("Python-made UserSig: %v", err)
	}
	if err := VerifyUserSig(vecAppID, vecKey, vecID, vecPythonUserBuf, now); err != nil {
		t.Errorf("Python-made UserSig with userbuf: %v", err)
	}
	// Our own userbuf sig must match the other implementation's HMAC.
	mine, err := genUserSig(vecAppID, vecKey, vecID, vecExpire, time.Unix(vecTime, 0), []byte("abc"))
	if err != nil {
		t.Fatal(err)
	}
	d1, _, _ := decodeUserSig(mine)
	d2, _, _ := decodeUserSig(vecPythonUserBuf)
	if d1 != d2 {
		t.Errorf("userbuf docs differ:\n%+v\n%+v", d1, d2)
	}
}

func TestUserSigRoundTripAndExpiry(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	sig, err := GenUserSig(vecAppID, vecKey, vecID, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		want error
	}{
		{now, nil},
		{now.Add(time.Hour), nil}, // valid up to and including time+expire
		{now.Add(time.Hour + time.Second), ErrUserSigExpired},
		{now.Add(48 * time.Hour), ErrUserSigExpired},
	} {
		err := VerifyUserSig(vecAppID, vecKey, vecID, sig, tc.at)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("at %v: got %v, want %v", tc.at.Sub(now), err, tc.want)
		}
	}
}

func TestVerifyUserSigRejectsTampering(t *testing.T) {
	now := time.Unix(vecTime, 0)
	sig, err := GenUserSig(vecAppID, vecKey, vecID, vecExpire, now)
	if err != nil {
		t.Fatal(err)
	}
	// A sig whose JSON was changed but re-compressed validly: a longer
	// expiry, with the old HMAC.
	forged := reencode(t, sig, func(js string) string {
		return strings.Replace(js, `"TLS.expire":86400`, `"TLS.expire":864000`, 1)
	})
	otherID := reencode(t, sig, func(js string) string {
		return strings.Replace(js, `"TLS.identifier":"administrator"`, `"TLS.identifier":"root"`, 1)
	})
	flipped := []byte(sig)
	flipped[len(flipped)/2] ^= 0x01

	for _, tc := range []struct {
		name        string
		appID       int64
		key, id, s  string
		want        error
		wantMessage string
	}{
		{"good", vecAppID, vecKey, vecID, sig, nil, ""},
		{"flipped byte", vecAppID, vecKey, vecID, string(flipped), ErrUserSigMalformed, ""},
		{"other identifier asked", vecAppID, vecKey, "someone", sig, ErrUserSigWrongIdentifier, ""},
		{"identifier changed inside", vecAppID, vecKey, "root", otherID, ErrUserSigBadSignature, ""},
		{"different key", vecAppID, "another-key", vecID, sig, ErrUserSigBadSignature, ""},
		{"wrong app", vecAppID + 1, vecKey, vecID, sig, ErrUserSigWrongApp, ""},
		{"expiry changed", vecAppID, vecKey, vecID, forged, ErrUserSigBadSignature, ""},
		{"empty", vecAppID, vecKey, vecID, "", ErrUserSigMalformed, ""},
		{"not base64", vecAppID, vecKey, vecID, "!!!!", ErrUserSigMalformed, ""},
		{"not zlib", vecAppID, vecKey, vecID, "aGVsbG8_", ErrUserSigMalformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyUserSig(tc.appID, tc.key, tc.id, tc.s, now)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), vecKey) || (len(tc.s) > 8 && strings.Contains(err.Error(), tc.s)) {
				t.Errorf("error leaks the key or the sig: %v", err)
			}
		})
	}
}

// Change every character of a good UserSig in turn. Padding bits of the
// deflate stream and bytes after the zlib trailer are ignored by any inflater,
// so a few changes still decode; those must decode to the very same fields.
func TestVerifyUserSigEveryCharChanged(t *testing.T) {
	now := time.Unix(vecTime, 0)
	sig, _ := GenUserSig(vecAppID, vecKey, vecID, vecExpire, now)
	orig, _, _ := decodeUserSig(sig)
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-_"
	accepted := 0
	for i := range len(sig) {
		b := []byte(sig)
		b[i] = alphabet[(strings.IndexByte(alphabet, b[i])+1)%len(alphabet)]
		if err := VerifyUserSig(vecAppID, vecKey, vecID, string(b), now); err == nil {
			accepted++
			if d, _, _ := decodeUserSig(string(b)); d != orig {
				t.Errorf("change at %d accepted with other fields %+v", i, d)
			}
		}
	}
	if accepted > 3 {
		t.Errorf("%d of %d changes accepted; expected only padding positions", accepted, len(sig))
	}
}

func TestGenUserSigValidates(t *testing.T) {
	now := time.Unix(vecTime, 0)
	for _, tc := range []struct {
		app      int64
		key, id  string
		lifetime time.Duration
	}{
		{0, "k", "id", time.Hour},
		{-1, "k", "id", time.Hour},
		{1, "", "id", time.Hour},
		{1, "k", "", time.Hour},
		{1, "k", "id", 0},
		{1, "k", "id", time.Millisecond},
	} {
		if _, err := GenUserSig(tc.app, tc.key, tc.id, tc.lifetime, now); err == nil {
			t.Errorf("GenUserSig(%d, %q, %q, %v) accepted", tc.app, tc.key, tc.id, tc.lifetime)
		}
	}
}

// VerifyUserSig reads numbers given as strings too, since verifying other
// implementations' sigs is the point.
func TestVerifyUserSigLenientNumbers(t *testing.T) {
	sig, _ := GenUserSig(vecAppID, vecKey, vecID, vecExpire, time.Unix(vecTime, 0))
	quoted := reencode(t, sig, func(js string) string {
		return strings.Replace(js, `"TLS.time":1700000000`, `"TLS.time":"1700000000"`, 1)
	})
	if err := VerifyUserSig(vecAppID, vecKey, vecID, quoted, time.Unix(vecTime, 0)); err != nil {
		t.Errorf("quoted time: %v", err)
	}
	noVer := reencode(t, sig, func(js string) string { return strings.Replace(js, `"2.0"`, `"1.0"`, 1) })
	if err := VerifyUserSig(vecAppID, vecKey, vecID, noVer, time.Unix(vecTime, 0)); !errors.Is(err, ErrUserSigMalformed) {
		t.Errorf("version 1.0: %v", err)
	}
}

// sigJSON undoes steps 5 and 4 of a UserSig by hand (not with the package's own
// replacer), returning its JSON.
func sigJSON(t *testing.T, sig string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.NewReplacer("*", "+", "-", "/", "_", "=").Replace(sig))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(js)
}

// reencode decodes sig, edits its JSON and encodes it again.
func reencode(t *testing.T, sig string, edit func(string) string) string {
	t.Helper()
	js := sigJSON(t, sig)
	edited := edit(js)
	if edited == js {
		t.Fatalf("edit changed nothing in %s", js)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := fmt.Fprint(zw, edited); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return sigReplacer.Replace(base64.StdEncoding.EncodeToString(z.Bytes()))
}

func FuzzVerifyUserSig(f *testing.F) {
	good, _ := GenUserSig(vecAppID, vecKey, vecID, vecExpire, time.Unix(vecTime, 0))
	for _, s := range []string{good, vecPython, vecPythonUserBuf, "", "eJw_", "eJyrVgrxCdYrSy1S", "!!", good[:len(good)/2]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := VerifyUserSig(vecAppID, vecKey, vecID, s, time.Unix(vecTime, 0))
		if err == nil {
			// Anything accepted must carry the right HMAC.
			d, hasBuf, derr := decodeUserSig(s)
			if derr != nil || d.Sig != userSigHMAC(vecKey, d.Identifier, d.SDKAppID, d.Time, d.Expire, d.UserBuf, hasBuf) {
				t.Fatalf("accepted %q without a valid signature", s)
			}
			return
		}
		for _, want := range []error{ErrUserSigMalformed, ErrUserSigWrongApp, ErrUserSigWrongIdentifier, ErrUserSigBadSignature, ErrUserSigExpired} {
			if errors.Is(err, want) {
				return
			}
		}
		t.Fatalf("error %v is none of the sentinels", err)
	})
}

func BenchmarkGenUserSig(b *testing.B) {
	now := time.Unix(vecTime, 0)
	for b.Loop() {
		if _, err := GenUserSig(vecAppID, vecKey, vecID, vecExpire, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyUserSig(b *testing.B) {
	now := time.Unix(vecTime, 0)
	sig, _ := GenUserSig(vecAppID, vecKey, vecID, vecExpire, now)
	for b.Loop() {
		if err := VerifyUserSig(vecAppID, vecKey, vecID, sig, now); err != nil {
			b.Fatal(err)
		}
	}
}
