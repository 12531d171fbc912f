package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/herald-webhooks/herald"
)

// limited refuses requests whose URL is longer than herald.MaxURLLength
// (414) or whose query has more than herald.MaxQueryValues values (400),
// before any route sees them.
func (s *server) limited(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.RequestURI) > herald.MaxURLLength {
			writeJSON(w, http.StatusRequestURITooLong, httpErrorOut{Code: "uri_too_long",
				Detail: fmt.Sprintf("The request URL is longer than %d bytes.", herald.MaxURLLength)})
			return
		}
		n, nul := 0, false
		for _, vs := range r.URL.Query() {
			n += len(vs)
			for _, v := range vs {
				nul = nul || strings.IndexByte(v, 0) >= 0
			}
		}
		if nul {
			writeError(w, herald.Errorf(herald.EInvalid, "Query parameters must not contain the NUL character."), s.log)
			return
		}
		if n > herald.MaxQueryValues {
			writeError(w, herald.Errorf(herald.EInvalid, "The query has more than %d parameter values.", herald.MaxQueryValues), s.log)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// validateText adds a problem when a free-text field is longer than
// herald.MaxDescriptionLength.
func validateText(p *problems, v opt[string], loc ...string) {
	if s, ok := v.value(); ok && len(s) > herald.MaxDescriptionLength {
		p.add(fmt.Sprintf("%s must be at most %d bytes", loc[len(loc)-1], herald.MaxDescriptionLength), loc...)
	}
}

// validateMetadata adds a problem when metadata has more than
// herald.MaxMetadataEntries entries or an entry longer than
// herald.MaxMetadataBytes.
func validateMetadata(p *problems, v opt[map[string]string], loc ...string) {
	m, _ := v.value()
	validateStringMap(p, m, herald.MaxMetadataEntries, herald.MaxMetadataBytes, loc...)
}

// validateStringMap adds a problem when m has more than maxEntries
// entries, or an entry whose key and value together are longer than
// maxBytes.
func validateStringMap(p *problems, m map[string]string, maxEntries, maxBytes int, loc ...string) {
	field := loc[len(loc)-1]
	if len(m) > maxEntries {
		p.add(fmt.Sprintf("%s has more than %d entries", field, maxEntries), loc...)
	}
	for k, v := range m {
		if len(k)+len(v) > maxBytes {
			p.add(fmt.Sprintf("%s entry %s is longer than %d bytes", field, quote(k), maxBytes), loc...)
			return
		}
	}
}
