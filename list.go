package herald

import "strings"

// Pagination limits of the Svix API.
const (
	DefaultListLimit = 50
	MaxListLimit     = 250
)

// ListParams selects one page of a list ordered by ID (or by name for event
// types).
type ListParams struct {
	// Limit is the page size, 1..MaxListLimit.
	Limit int
	// Iterator is the cursor of the page: "" for the first page, an item key
	// to continue after that item, or "-" followed by a key to walk back to
	// the page before that item.
	Iterator string
	// Ascending orders oldest first; otherwise newest first.
	Ascending bool
}

// Cursor splits an Iterator into its key and direction: backward is true
// for a "-" iterator, which asks for the items before key.
func (p ListParams) Cursor() (key string, backward bool) {
	if strings.HasPrefix(p.Iterator, "-") {
		return p.Iterator[1:], true
	}
	return p.Iterator, false
}

// Page is one page of a list. Iterator is the key of the last item (to fetch
// the next page), PrevIterator "-" followed by the key of the first item (to
// fetch the one before), and Done reports that no items follow in the
// direction walked.
type Page[T any] struct {
	Items        []T
	Iterator     string
	PrevIterator string
	Done         bool
}

// MakePage builds a Page from rows fetched in the order of the walk with a
// limit of p.Limit+1: the extra row only tells whether more follow. A
// backward walk's rows are reversed so that the page keeps the list's order.
// key returns an item's cursor key.
func MakePage[T any](rows []T, p ListParams, key func(T) string) Page[T] {
	_, backward := p.Cursor()
	done := len(rows) <= p.Limit
	if !done {
		rows = rows[:p.Limit]
	}
	if backward {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
	}
	page := Page[T]{Items: rows, Done: done}
	if len(rows) > 0 {
		page.Iterator = key(rows[len(rows)-1])
		page.PrevIterator = "-" + key(rows[0])
	}
	return page
}
