package desired

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
)

// Claim is something a profile's gateway would hold for itself once it
// runs: a credential that Hermes guards with a scoped lock (one bot token,
// one gateway), or a TCP port one of its listeners binds. Two gateways
// with a claim of the same Key cannot both run; the planner decides which
// is held.
//
// A Claim never holds the credential: only a fingerprint of it, an
// HMAC-SHA256 under a key drawn once per process, so two claims compare
// without the secret being kept, printed or stored. The fingerprint means
// nothing outside this process and must never be persisted.
type Claim struct {
	// Kind is what is claimed, as people read it: "Telegram bot token",
	// "API server port 8642". A port's Kind names its listener and the
	// number.
	Kind string
	// Scope is what Kind is an instance of, and what two claims must
	// share to conflict: Hermes's lock scope for a credential
	// ("telegram-bot-token"), ScopePort for any listening port, whatever
	// its listener (a webhook and an API server cannot share a port
	// either).
	Scope string
	// Port is the listening port; 0 for a credential.
	Port int
	// From names where the deciding value came from, never the value:
	// "TELEGRAM_BOT_TOKEN (inherited)", "config.yaml api_server extra.port",
	// "default".
	From string
	id   fingerprint
}

// ScopePort is the scope of every listening-port claim.
//
// Ports are compared by number alone, not by host: every gateway the
// reconciler runs shares one network namespace (one container, one host),
// where 0.0.0.0:N and 127.0.0.1:N collide, and Hermes's own pre-bind probe
// connects to 127.0.0.1:N whatever the host. Two listeners on two distinct
// non-loopback addresses could share a number; flagging them anyway holds a
// gateway that might have started, which is the safe side.
const ScopePort = "port"

// ClaimKey is a claim's identity: comparable, so a map from ClaimKey to
// the profile holding it finds every conflict in one pass.
type ClaimKey struct {
	Scope string
	Port  int
	id    fingerprint
}

// Key is the claim's identity: same Key, same resource.
func (c Claim) Key() ClaimKey { return ClaimKey{Scope: c.Scope, Port: c.Port, id: c.id} }

// String is the claim as an operator reads it: "Telegram bot token (from
// TELEGRAM_BOT_TOKEN (inherited))".
func (c Claim) String() string {
	if c.From == "" {
		return c.Kind
	}
	return c.Kind + " (from " + c.From + ")"
}

// Claims are one gateway's claims, in a stable order.
type Claims []Claim

// Shared is every claim of c that o claims too, in c's order.
func (c Claims) Shared(o Claims) Claims {
	var out Claims
	for _, a := range c {
		for _, b := range o {
			if a.Key() == b.Key() {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

// fingerprint is HMAC-SHA256(processKey, scope NUL identity). It prints as
// a short hex prefix: enough to tell two apart in a debugger, nothing to
// take away.
type fingerprint [sha256.Size]byte

func (f fingerprint) String() string   { return hex.EncodeToString(f[:4]) }
func (f fingerprint) GoString() string { return "fingerprint(" + f.String() + ")" }

// processKey is drawn once per process: fingerprints compare within it and
// are worthless to anyone who reads one.
var processKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (Go 1.24+): it crashes rather
	return k
})

func fingerprintOf(scope, identity string) fingerprint {
	m := hmac.New(sha256.New, processKey())
	m.Write([]byte(scope))
	m.Write([]byte{0})
	m.Write([]byte(identity))
	var f fingerprint
	m.Sum(f[:0])
	return f
}

// credentialClaim is a claim on a credential, by its lock scope.
func credentialClaim(scope, kind, identity, from string) Claim {
	return Claim{Kind: kind, Scope: scope, From: from, id: fingerprintOf(scope, strings.TrimSpace(identity))}
}

// portClaim is a claim on a TCP port by the listener named.
func portClaim(listener string, port int, from string) Claim {
	return Claim{Kind: listener + " port " + strconv.Itoa(port), Scope: ScopePort, Port: port, From: from}
}

// CredentialClaim is a claim on the credential identity, by its lock scope
// (what the reader makes of TELEGRAM_BOT_TOKEN and its kin), for callers
// that build services by hand: tests, and engines that learn a claim
// elsewhere. The identity is fingerprinted at once and not kept.
func CredentialClaim(scope, kind, identity, from string) Claim {
	return credentialClaim(scope, kind, identity, from)
}

// PortClaim is a claim on a TCP port by the listener named.
func PortClaim(listener string, port int, from string) Claim { return portClaim(listener, port, from) }
