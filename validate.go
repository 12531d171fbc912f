package herald

// Length limits of user-chosen names, as in the Svix API.
const (
	MaxUIDLength       = 256
	MaxEventTypeLength = 256
	MaxChannelLength   = 128
)

// ValidUID reports whether s may be used as an application or endpoint uid,
// a message eventId or an event type name: 1..256 of [a-zA-Z0-9-_.].
func ValidUID(s string) bool {
	return len(s) >= 1 && len(s) <= MaxUIDLength && allIn(s, "-_.")
}

// ValidEventTypeName reports whether s is a valid event type name.
func ValidEventTypeName(s string) bool {
	return len(s) >= 1 && len(s) <= MaxEventTypeLength && allIn(s, "-_.")
}

// ValidChannel reports whether s is a valid channel: 1..128 of
// [a-zA-Z0-9-_.:+].
func ValidChannel(s string) bool {
	return len(s) >= 1 && len(s) <= MaxChannelLength && allIn(s, "-_.:+")
}

func allIn(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case containsByte(extra, c):
		default:
			return false
		}
	}
	return true
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}
