package miko

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"
)

// Strategy chooses among a service's passing endpoints.
type Strategy int

const (
	// RoundRobin takes the passing endpoints in turn. The default (unless a zone is set).
	RoundRobin Strategy = iota
	// WeightedRandom picks at random in proportion to the endpoints' weights.
	WeightedRandom
	// ZoneFirst takes endpoints in the client's zone (WithZone) in turn, and the others only
	// when none in the zone is available. The default when a zone is set.
	ZoneFirst
)

func (s Strategy) String() string {
	switch s {
	case WeightedRandom:
		return "weighted-random"
	case ZoneFirst:
		return "zone-first"
	}
	return "round-robin"
}

type config struct {
	token          string
	tokenSet       bool
	kind           AddressKind
	zone           string
	strategy       Strategy
	strategySet    bool
	services       []string
	timeout        time.Duration
	wait           time.Duration
	backoffMin     time.Duration
	backoffMax     time.Duration
	cooldown       time.Duration
	maxAttempts    int
	attemptTimeout time.Duration
	tlsConfig      *tls.Config
	transport      http.RoundTripper
	logger         *slog.Logger
	strict         bool
}

func defaultConfig() config {
	return config{
		timeout:        10 * time.Second,
		wait:           30 * time.Second,
		backoffMin:     200 * time.Millisecond,
		backoffMax:     5 * time.Second,
		cooldown:       10 * time.Second,
		maxAttempts:    3,
		attemptTimeout: 10 * time.Second,
	}
}

// Option configures a Client.
type Option func(*config)

// WithToken sets the bearer token sent to Miko. Without this option the token comes from
// MIKO_TOKEN; WithToken("") sends none even when MIKO_TOKEN is set.
func WithToken(token string) Option {
	return func(c *config) { c.token, c.tokenSet = token, true }
}

// WithAddressKind selects public (the default) or internal addresses.
func WithAddressKind(kind AddressKind) Option {
	return func(c *config) { c.kind = kind }
}

// WithZone sets the caller's zone: the ZoneFirst strategy (the default once a zone is set)
// prefers endpoints in it.
func WithZone(zone string) Option {
	return func(c *config) { c.zone = zone }
}

// WithStrategy sets how Pick and the HTTP client choose among passing endpoints.
func WithStrategy(s Strategy) Option {
	return func(c *config) { c.strategy, c.strategySet = s, true }
}

// WithServices limits the cached list to these services (Miko's service filter). By default the
// client follows every service it may see.
func WithServices(names ...string) Option {
	return func(c *config) { c.services = append([]string(nil), names...) }
}

// WithTimeout bounds each ordinary call to Miko (the first list, registrations, heartbeats).
// Default 10s.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithWait sets how long each background long-poll asks Miko to hold (Miko caps it with
// registry.maxWait). Default 30s.
func WithWait(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.wait = d
		}
	}
}

// WithBackoff sets the retry delays, growing from min to max with jitter, used while Miko is
// unreachable and between attempts on the same endpoint. Defaults 200ms and 5s.
func WithBackoff(min, max time.Duration) Option {
	return func(c *config) {
		if min > 0 {
			c.backoffMin = min
		}
		if max >= c.backoffMin {
			c.backoffMax = max
		}
	}
}

// WithCooldown sets how long an endpoint that failed a request is skipped (unless Miko reports
// news of it passing first). Default 10s.
func WithCooldown(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.cooldown = d
		}
	}
}

// WithMaxAttempts bounds how many endpoints one HTTP request may be tried on. Default 3; 1
// disables failover.
func WithMaxAttempts(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxAttempts = n
		}
	}
}

// WithAttemptTimeout bounds how long one attempt may take to connect to a backend and receive its
// response headers before it counts as failed and (when the request may be repeated) moves on to
// the next endpoint. Default 10s; 0 disables it (the request's context still applies). The
// client's own transport enforces it as its dial and response-header timeouts; over a transport
// given with WithTransport each attempt runs under a timer of its own.
func WithAttemptTimeout(d time.Duration) Option {
	return func(c *config) {
		if d >= 0 {
			c.attemptTimeout = d
		}
	}
}

// WithTLSConfig sets the TLS configuration for connections to Miko and to https endpoints.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(c *config) { c.tlsConfig = cfg }
}

// WithTransport sets the RoundTripper that carries requests to the services' endpoints (the
// client's failover Transport wraps it). By default a dedicated *http.Transport is used.
func WithTransport(rt http.RoundTripper) Option {
	return func(c *config) { c.transport = rt }
}

// WithLogger sets a logger for background events (Miko unreachable, heartbeat failures,
// endpoints marked down). By default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithStrict with true makes Pick and the HTTP client fail with ErrNoHealthyEndpoint when no
// endpoint of a service is passing. By default they choose among the endpoints that are not
// passing instead (panic mode, reported by PanicServices): a directory that marks a whole
// service critical is not proof that every instance is down.
func WithStrict(strict bool) Option {
	return func(c *config) { c.strict = strict }
}
