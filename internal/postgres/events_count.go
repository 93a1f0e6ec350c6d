package postgres

import (
	"context"
	"time"

	"github.com/sessiond/sessiond/internal/events"
)

var _ events.Counter = (*Store)(nil)

// CountHourly counts tenantID's events of types since since, per UTC hour,
// type and detail reason, oldest hour first. It reads only that tenant's
// rows of the time range (index events_tenant_time).
func (s *Store) CountHourly(ctx context.Context, tenantID string, since time.Time, types []events.Type) ([]events.HourlyCount, error) {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	rows, err := s.pool.Query(ctx,
		`SELECT date_trunc('hour', time AT TIME ZONE 'UTC') AS hour, type, coalesce(detail->>'reason', ''), count(*)
		 FROM events WHERE tenant_id = $1 AND time >= $2 AND type = ANY($3)
		 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, tenantID, since, names)
	if err != nil {
		return nil, mapErr(err, "count events", "event")
	}
	defer rows.Close()
	var out []events.HourlyCount
	for rows.Next() {
		var (
			c    events.HourlyCount
			hour time.Time
		)
		if err := rows.Scan(&hour, &c.Type, &c.Reason, &c.Count); err != nil {
			return nil, mapErr(err, "count events", "event")
		}
		c.Hour = time.Date(hour.Year(), hour.Month(), hour.Day(), hour.Hour(), 0, 0, 0, time.UTC)
		out = append(out, c)
	}
	return out, mapErr(rows.Err(), "count events", "event")
}
