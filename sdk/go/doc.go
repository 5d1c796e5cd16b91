// Package miko is the Go client for Miko, a service directory: services register their endpoints
// and clients ask Miko where things are.
//
// A Client needs only Miko's address (and a token when reads need one, or to see internal
// addresses, or to register):
//
//	client, err := miko.New("http://127.0.0.1:8740", miko.WithToken(token))
//	if err != nil { ... }          // ErrInvalidAddress
//	defer client.Close()
//	resp, err := client.HTTPClient().Get("http://hanami/orders/7")
//
// The Client fetches Miko's endpoint list (GET /v1/endpoints) once and keeps it fresh in the
// background with blocking queries (index + wait). When Miko is unreachable it keeps answering
// from the last good list, retries with backoff and reports it through Stale, Err and
// LastUpdated.
//
// Lookups: Endpoints lists a service's endpoints; Pick chooses a passing one by the strategy
// (RoundRobin by default, WeightedRandom, or ZoneFirst with WithZone). When none is passing it
// chooses among the others (panic mode, listed by PanicServices) unless WithStrict(true) is set,
// which fails with ErrNoHealthyEndpoint instead. HTTPClient and Transport send requests for
// "http://<service>/..." to a chosen endpoint and fail over to another one on connection errors,
// timeouts and 502/503/504, marking the failed endpoint down for a cool-down.
//
// Register adds an endpoint to Miko and heartbeats it in the background until Deregister or
// Close.
//
// Config follows the application keys under a prefix ("billing/"): a local copy with their
// values, kept fresh by blocking queries and served while Miko is unreachable, with typed reads
// and defaults (GetInt, GetString, ConfigValue, Decode), change callbacks (OnChange) and
// compare-and-set writes (Set with IfVersion or CreateOnly, Delete).
//
// Errors are values: the sentinels (ErrInvalidAddress, ErrUnreachable, ErrUnauthorized,
// ErrForbidden, ErrUnknownService, ErrNoHealthyEndpoint, ErrInvalidRequest, ErrNotFound,
// ErrClosed, ErrKVForbidden, ErrVersionConflict, ErrKeyNotFound) work with errors.Is, also
// through the *url.Error that http.Client returns, and the typed errors (*AddressError,
// *ServiceError, *APIError, *UnreachableError) with errors.As.
//
// The package uses the standard library only and speaks Miko's HTTP API (see /openapi.json on
// a running Miko).
package miko
