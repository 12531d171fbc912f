package egress

import (
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	ok := []string{
		"https://example.com/hook",
		"http://example.com:8080/a?b=c#d",
		"https://user:pass@example.com/hook", // Basic authentication, as Svix documents
		"https://EXAMPLE.com./hook",          // a fully qualified name
		"https://localhost/",                 // refused at connect time, where the allow-list applies
		"https://localhost./",
		"http://metadata.google.internal./computeMetadata/v1/",
		"http://127.0.0.1:9000/", // a canonical address: judged at connect time
		"http://8.8.8.8/",
		"http://[::1]:9000/",
		"http://[2606:4700::1111]/",
		"http://[::ffff:127.0.0.1]/",
		"https://0x7f.example.com/", // a hex-looking label that is not the last is a name
		"https://my_host.example.com:65535/",
		"https://bücher.example/",
	}
	for _, u := range ok {
		if err := CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v, want accepted", u, err)
		}
	}
	bad := []struct{ url, why string }{
		{"http://2130706433/", "four decimal numbers"},
		{"http://0x7f000001/", "four decimal numbers"},
		{"http://0177.0.0.1/", "four decimal numbers"},
		{"http://127.1/", "four decimal numbers"},
		{"http://0x7f.1/", "four decimal numbers"},
		{"http://127.0.0.1./", "four decimal numbers"},
		{"http://0x7F.0.0.1/", "four decimal numbers"},
		{"http://127.000.000.001/", "four decimal numbers"},
		{"http://1.2.3.4.5/", "four decimal numbers"},
		{"http://example.0x/", "four decimal numbers"},
		{"http://example.123/", "four decimal numbers"},
		{"file:///etc/passwd", "scheme 'file'"},
		{"gopher://example.com/", "scheme 'gopher'"},
		{"ftp://example.com/", "scheme 'ftp'"},
		{"dict://example.com:11211/", "scheme 'dict'"},
		{"javascript:alert(1)", "scheme"},
		{"//example.com/hook", "scheme ''"},
		{"/hook", "scheme"},
		{"http:example.com", "with a host"},
		{"http:///hook", "with a host"},
		{"http://:80/", "with a host"},
		{"http://example.com:0/", "port from 1 to 65535"},
		{"http://example.com:65536/", "port from 1 to 65535"},
		{"http://[fe80::1%25eth0]/", "zone"},
		{"http://[127.0.0.1]/", "http or https URL"},
		{"http://[::1/", "http or https URL"},
		{"http://a..b.example.com/", "valid host name"},
		{"http://" + strings.Repeat("a", 64) + ".com/", "valid host name"},
		{"http://example.com/" + strings.Repeat("a", 2048), "at most 2048"},
		{"http://exa mple.com/", "http or https URL"},
	}
	for _, tc := range bad {
		err := CheckURL(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("CheckURL(%q) = %v, want refused (%s)", tc.url, err, tc.why)
		}
	}
}
