package events

import "context"

// Spool keeps events durably, in order, while the Store cannot take them
// (PostgreSQL refusing connections or hanging). Several writers (instances)
// may push to and drain one spool at the same time: an entry leaves the
// spool only after it was stored, and Remove never removes an entry it was
// not given, so nothing is lost; an entry may be stored twice, which the
// event's unique id makes harmless (the Store ignores an id it has).
type Spool interface {
	// Push appends batch at the tail, in order, as far as the spool's bound
	// leaves room, and returns how many (the first kept ones) it kept and
	// the spool's depth after the push.
	Push(ctx context.Context, batch []Event) (kept int, depth int64, err error)
	// Peek returns up to n entries from the head, oldest first, without
	// removing them.
	Peek(ctx context.Context, n int) ([]SpoolEntry, error)
	// Remove removes from the head the leading entries that are still
	// those given (by Key), stopping at the first that is not, and returns
	// how many it removed and the depth after.
	Remove(ctx context.Context, entries []SpoolEntry) (removed int, depth int64, err error)
	// Depth returns how many entries the spool holds.
	Depth(ctx context.Context) (int64, error)
}

// SpoolEntry is one spooled event. Err is set when the stored entry could
// not be read back as an event; Key identifies the entry for Remove either
// way.
type SpoolEntry struct {
	Key   string
	Event Event
	Err   error
}
