package chatapi

import (
	"fmt"
	"sort"
)

// regionDomain is a switch rather than a package map so that no caller can
// change the table by accident.
func regionDomain(region string) (string, bool) {
	switch region {
	case "china":
		return "console.tim.qq.com", true
	case "singapore":
		return "adminapisgp.im.qcloud.com", true
	case "seoul":
		return "adminapikr.im.qcloud.com", true
	case "tokyo":
		return "adminapijpn.im.qcloud.com", true
	case "frankfurt":
		return "adminapiger.im.qcloud.com", true
	case "mumbai":
		return "adminapiind.im.qcloud.com", true
	case "siliconvalley":
		return "adminapiusa.im.qcloud.com", true
	case "jakarta":
		return "adminapiidn.im.qcloud.com", true
	}
	return "", false
}

// Regions returns the documented region names, sorted. Another package (the
// API validation, say) can use it to check a region before a client exists.
func Regions() []string {
	r := []string{"china", "singapore", "seoul", "tokyo", "frankfurt", "mumbai", "siliconvalley", "jakarta"}
	sort.Strings(r)
	return r
}

// RegionDomains returns a fresh map from region name to the REST API domain of
// that region's data centre. The caller may change the map freely.
func RegionDomains() map[string]string {
	m := make(map[string]string, 8)
	for _, r := range Regions() {
		d, _ := regionDomain(r)
		m[r] = d
	}
	return m
}

// RegionDomain returns the REST API domain of region and whether the region
// is known. Names are lower case, as in Regions.
func RegionDomain(region string) (string, bool) {
	return regionDomain(region)
}

// BaseURL returns the https base URL of region's REST API, without a trailing
// slash, or an error naming the valid regions.
func BaseURL(region string) (string, error) {
	d, ok := regionDomain(region)
	if !ok {
		return "", fmt.Errorf("chatapi: unknown region %q (valid: %v)", region, Regions())
	}
	return "https://" + d, nil
}
