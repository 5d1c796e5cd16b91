package miko

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors. Every error the package returns wraps at most one of these, so callers can
// branch with errors.Is; the typed errors below carry the details for errors.As.
var (
	// ErrInvalidAddress: Miko's address (or MIKO_ADDRESS) is missing or malformed. Returned by New,
	// wrapped in an *AddressError.
	ErrInvalidAddress = errors.New("miko: invalid address")

	// ErrUnreachable: Miko could not be reached (connection refused, timeout, 502/503/504) and no
	// list was ever received. Once a list has been received, lookups answer from it instead.
	ErrUnreachable = errors.New("miko: unreachable")

	// ErrUnauthorized: Miko refused the token (HTTP 401): it is missing, unknown or revoked.
	ErrUnauthorized = errors.New("miko: unauthorized")

	// ErrForbidden: the token is valid but lacks the role for the call (HTTP 403), such as
	// registering without the register role.
	ErrForbidden = errors.New("miko: forbidden")

	// ErrUnknownService: the service is not in Miko's list (as visible to this client's token and
	// address kind). Wrapped in a *ServiceError naming the service.
	ErrUnknownService = errors.New("miko: unknown service")

	// ErrNoHealthyEndpoint: the service exists but none of its endpoints is passing, and the client
	// is strict (WithStrict); otherwise it chooses among the others. Wrapped in a *ServiceError
	// naming the service.
	ErrNoHealthyEndpoint = errors.New("miko: no healthy endpoint")

	// ErrNotFound: Miko answered 404 for an endpoint (for example a heartbeat after Miko removed it).
	ErrNotFound = errors.New("miko: not found")

	// ErrInvalidRequest: Miko rejected the request's content (HTTP 400), such as a malformed
	// endpoint address or service name in a registration.
	ErrInvalidRequest = errors.New("miko: invalid request")

	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("miko: client closed")

	// ErrKVForbidden: Miko denies this token the keys asked for (HTTP 403 kv_forbidden): listing a
	// prefix no read rule covers, or writing a key without write access. It also matches
	// ErrForbidden.
	ErrKVForbidden = errors.New("miko: keys forbidden")

	// ErrVersionConflict: a compare-and-set write lost (HTTP 412 kv_version_conflict): the key was
	// not at the version given with IfVersion, or a CreateOnly write found it already there.
	ErrVersionConflict = errors.New("miko: version conflict")

	// ErrKeyNotFound: the key does not exist, was deleted, or this token may not read it (HTTP 404
	// kv_key_not_found). It also matches ErrNotFound.
	ErrKeyNotFound = errors.New("miko: key not found")
)

// AddressError reports a malformed Miko address given to New (or found in MIKO_ADDRESS).
// It matches ErrInvalidAddress.
type AddressError struct {
	Address string // the address as given
	Reason  string // what is wrong with it
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("miko: invalid address %q: %s", e.Address, e.Reason)
}

// Unwrap lets errors.Is(err, ErrInvalidAddress) match.
func (e *AddressError) Unwrap() error { return ErrInvalidAddress }

// ServiceError reports a lookup that failed for one service: it wraps ErrUnknownService or
// ErrNoHealthyEndpoint and names the service.
type ServiceError struct {
	Service string
	Err     error
}

func (e *ServiceError) Error() string {
	switch e.Err {
	case ErrUnknownService:
		return fmt.Sprintf("miko: unknown service %q", e.Service)
	case ErrNoHealthyEndpoint:
		return fmt.Sprintf("miko: no healthy endpoint for service %q", e.Service)
	}
	return fmt.Sprintf("miko: service %q: %v", e.Service, e.Err)
}

func (e *ServiceError) Unwrap() error { return e.Err }

// APIError is an error answer from Miko's HTTP API: its status and the {"error": {code, message}}
// body. errors.Is maps it to the sentinels: 401 → ErrUnauthorized, 403 → ErrForbidden (and
// ErrKVForbidden for code kv_forbidden), 400 → ErrInvalidRequest, 404 → ErrNotFound
// (ErrUnknownService for code service_not_found, ErrKeyNotFound for kv_key_not_found),
// 412 → ErrVersionConflict, 502/503/504 → ErrUnreachable.
type APIError struct {
	StatusCode int
	Code       string // e.g. "unauthorized", "endpoint_not_found"
	Message    string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	if e.Code != "" {
		return fmt.Sprintf("miko: %d %s: %s", e.StatusCode, e.Code, msg)
	}
	return fmt.Sprintf("miko: %d: %s", e.StatusCode, msg)
}

// Is matches the sentinel that corresponds to the status code.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrInvalidRequest:
		return e.StatusCode == http.StatusBadRequest
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnknownService:
		return e.StatusCode == http.StatusNotFound && e.Code == "service_not_found"
	case ErrKVForbidden:
		return e.StatusCode == http.StatusForbidden && e.Code == "kv_forbidden"
	case ErrVersionConflict:
		return e.StatusCode == http.StatusPreconditionFailed
	case ErrKeyNotFound:
		return e.StatusCode == http.StatusNotFound && e.Code == "kv_key_not_found"
	case ErrUnreachable:
		return isUnavailableStatus(e.StatusCode)
	}
	return false
}

// UnreachableError reports a failed attempt to reach Miko. It matches ErrUnreachable and
// unwraps to the underlying network error as well.
type UnreachableError struct {
	Address string // Miko's base URL
	Err     error  // the transport error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("miko: unreachable at %s: %v", e.Address, e.Err)
}

func (e *UnreachableError) Unwrap() []error { return []error{ErrUnreachable, e.Err} }

func isUnavailableStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}
