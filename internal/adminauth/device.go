package adminauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/secrets"
)

// Known-device cookies (OWASP, "Slow Down Online Guessing Attacks with
// Device Cookies"). A successful sign-in gives the browser a cookie that
// names the account it signed in to; sign-ins and password changes of that
// account from that browser are then limited by the device's own budget
// only, so failures from anywhere else never shut it out.
//
// value = "d1." device "." expires "." mac
//
//	device  = 10 random bytes, lower-case base32 (16 chars): the device's id
//	expires = Unix seconds
//	mac     = base64url(HMAC-SHA-256(key, "sessiond admin device\x00" account "\x00" device "\x00" expires))
//
// account is the lower-cased email, so the cookie does not carry the email
// and is worth nothing for another account. The key is derived from the
// master key (the same on every instance).
const (
	// DeviceLifetime is how long a device stays known after its latest
	// successful sign-in.
	DeviceLifetime = 180 * 24 * time.Hour
	deviceVersion  = "d1"
)

// devices issues and checks known-device cookie values.
type devices struct{ key []byte }

func (d devices) mac(account, id, expires string) string {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte("sessiond admin device\x00" + account + "\x00" + id + "\x00" + expires))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// issue returns a cookie value making device id ("" for a new one) a known
// device of account until DeviceLifetime after now.
func (d devices) issue(account, id string, now time.Time) string {
	if id == "" {
		id = secrets.Encode(secrets.Random(10))
	}
	exp := strconv.FormatInt(now.Add(DeviceLifetime).Unix(), 10)
	return deviceVersion + "." + id + "." + exp + "." + d.mac(account, id, exp)
}

// known returns the device id of value if it is a cookie this deployment
// issued for account and it has not expired, else "". Any bytes are safe.
func (d devices) known(value, account string, now time.Time) string {
	parts := strings.Split(value, ".")
	if len(parts) != 4 || parts[0] != deviceVersion || len(parts[1]) != 16 {
		return ""
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || now.Unix() >= exp {
		return ""
	}
	if !hmac.Equal([]byte(parts[3]), []byte(d.mac(account, parts[1], parts[2]))) {
		return ""
	}
	return parts[1]
}
