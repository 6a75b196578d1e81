package lnc

/*
#include <stdlib.h>
#include "lnc.h"

typedef struct {
	int code;
	const char *message;
	int retryable;
	int fatal;
	const char *leader;
	int has_offset;
	uint64_t offset;
} lnc_go_error_info;

// One cgo call instead of six to read an lnc_error_t.
static void lnc_go_error_read(const lnc_error_t *e, lnc_go_error_info *out) {
	out->code = (int)lnc_error_code(e);
	out->message = lnc_error_message(e);
	out->retryable = lnc_error_retryable(e);
	out->fatal = lnc_error_fatal(e);
	out->leader = lnc_error_leader(e);
	out->has_offset = lnc_error_server_offset(e, &out->offset);
}
*/
import "C"

import (
	"fmt"
	"strconv"
)

// Code is a liblnc error code (lnc_err_t): 0 is success, negative codes are local conditions,
// positive codes are server error categories.
type Code int

// The lnc_err_t codes, one constant per value of the C enum.
const (
	CodeOK               Code = C.LNC_ERR_OK                  // success
	CodeInvalidArg       Code = C.LNC_ERR_INVALID_ARG         // a bad argument
	CodeUnknownKey       Code = C.LNC_ERR_UNKNOWN_KEY         // unknown configuration key
	CodeInvalidValue     Code = C.LNC_ERR_INVALID_VALUE       // invalid configuration value
	CodeTimedOut         Code = C.LNC_ERR_TIMED_OUT           // a deadline passed
	CodeQueueFull        Code = C.LNC_ERR_QUEUE_FULL          // the producer buffer is full
	CodeClosed           Code = C.LNC_ERR_CLOSED              // the handle is closed
	CodeProtocol         Code = C.LNC_ERR_PROTOCOL            // the peer broke the protocol
	CodeCorruptRecord    Code = C.LNC_ERR_CORRUPT_RECORD      // a record in the log cannot be decoded
	CodePanic            Code = C.LNC_ERR_PANIC               // a panic was caught in liblnc (a bug)
	CodeTransport        Code = C.LNC_ERR_TRANSPORT           // connecting failed or the connection was lost
	CodeMsgTooLarge      Code = C.LNC_ERR_MSG_TOO_LARGE       // a record or batch exceeds the frame limit
	CodeOffsetOutOfRange Code = C.LNC_ERR_OFFSET_OUT_OF_RANGE // the position is past the topic's end
	CodePurged           Code = C.LNC_ERR_PURGED              // the record was purged before it was sent
	CodeUnknownOutcome   Code = C.LNC_ERR_UNKNOWN_OUTCOME     // the batch may or may not be stored
	CodeInCallback       Code = C.LNC_ERR_IN_CALLBACK         // not allowed from inside a callback
	CodeState            Code = C.LNC_ERR_STATE               // invalid in the handle's current state
	CodeIO               Code = C.LNC_ERR_IO                  // local I/O failure
	CodeTLS              Code = C.LNC_ERR_TLS                 // the TLS handshake failed
	CodeCancelled        Code = C.LNC_ERR_CANCELLED           // the call's context ended (liblnc's cancel token fired)
	CodeDeliveryFailed   Code = C.LNC_ERR_DELIVERY_FAILED     // fire-and-forget records failed since the last Flush
	CodeCircuitOpen      Code = C.LNC_ERR_CIRCUIT_OPEN        // the circuit breaker is open: a non-blocking send failed fast
	CodeUnknownTopic     Code = C.LNC_ERR_UNKNOWN_TOPIC       // unknown topic
	CodeNotLeader        Code = C.LNC_ERR_NOT_LEADER          // the server is not the leader
	CodeForwardFailed    Code = C.LNC_ERR_FORWARD_FAILED      // the server failed to forward to the leader
	CodeRateLimited      Code = C.LNC_ERR_RATE_LIMITED        // server rate limit
	CodeAuthRequired     Code = C.LNC_ERR_AUTH_REQUIRED       // authentication required
	CodeAuthFailed       Code = C.LNC_ERR_AUTH_FAILED         // authentication failed
	CodeCatchingUp       Code = C.LNC_ERR_CATCHING_UP         // the server is catching up / offset at the end
	CodeTopicExists      Code = C.LNC_ERR_TOPIC_EXISTS        // the topic already exists
	CodeInvalidName      Code = C.LNC_ERR_INVALID_NAME        // invalid topic name
	CodeServerError      Code = C.LNC_ERR_SERVER_ERROR        // any other server error
)

// AllCodes lists every error code liblnc defines except CodeOK, in enum order.
var AllCodes = []Code{
	CodeInvalidArg, CodeUnknownKey, CodeInvalidValue, CodeTimedOut, CodeQueueFull, CodeClosed,
	CodeProtocol, CodeCorruptRecord, CodePanic, CodeTransport, CodeMsgTooLarge, CodeOffsetOutOfRange,
	CodePurged, CodeUnknownOutcome, CodeInCallback, CodeState, CodeIO, CodeTLS, CodeCancelled,
	CodeDeliveryFailed, CodeCircuitOpen, CodeUnknownTopic, CodeNotLeader, CodeForwardFailed, CodeRateLimited, CodeAuthRequired,
	CodeAuthFailed, CodeCatchingUp, CodeTopicExists, CodeInvalidName, CodeServerError,
}

// String returns liblnc's name of the code without prefix, e.g. "TIMED_OUT" (lnc_err_name).
func (c Code) String() string { return C.GoString(C.lnc_err_name(C.int(c))) }

// Description returns liblnc's static description of the code, e.g. "operation timed out"
// (lnc_err_str).
func (c Code) Description() string { return C.GoString(C.lnc_err_str(C.int(c))) }

// Error is every error liblnc reports: the code, liblnc's message (server errors carry the
// server's exact text) and the details of lnc_error_t. Use errors.Is with the Err* sentinels
// (matching is by Code) or errors.As to get the *Error.
type Error struct {
	// Code is the lnc_err_t code.
	Code Code
	// Message is liblnc's readable reason (for configuration errors, lnc_conf_set's reason).
	Message string
	// LeaderAddr is the host:port of a NOT_LEADER redirect, or "".
	LeaderAddr string
	// ServerOffset is the offset the error carries (CatchingUp end, corrupt record start,
	// out-of-range end) when HasServerOffset is true.
	ServerOffset uint64
	// HasServerOffset reports whether ServerOffset is set.
	HasServerOffset bool
	// Key is the configuration key for UNKNOWN_KEY / INVALID_VALUE errors from a Config.
	Key string

	retryable bool
	fatal     bool
}

// Error implements error: "lnc: NAME: message".
func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	msg := e.Message
	if msg == "" {
		msg = e.Code.Description()
	}
	if e.Key != "" {
		return fmt.Sprintf("lnc: %s: %s: %s", e.Code, strconv.Quote(e.Key), msg)
	}
	return fmt.Sprintf("lnc: %s: %s", e.Code, msg)
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, lnc.ErrTimedOut) matches every TIMED_OUT error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && e != nil && t != nil && t.Code == e.Code
}

// Retryable reports whether liblnc says retrying the operation may succeed.
func (e *Error) Retryable() bool { return e != nil && e.retryable }

// Fatal reports whether liblnc says the handle cannot continue (e.g. authentication failed).
func (e *Error) Fatal() bool { return e != nil && e.fatal }

func sentinel(c Code) *Error { return &Error{Code: c, Message: c.Description()} }

// Sentinel errors, one per code, for errors.Is. They are never returned themselves; returned
// errors are *Error values with details that match these by Code.
var (
	ErrInvalidArg       = sentinel(CodeInvalidArg)       // INVALID_ARG
	ErrUnknownKey       = sentinel(CodeUnknownKey)       // UNKNOWN_KEY
	ErrInvalidValue     = sentinel(CodeInvalidValue)     // INVALID_VALUE
	ErrTimedOut         = sentinel(CodeTimedOut)         // TIMED_OUT
	ErrQueueFull        = sentinel(CodeQueueFull)        // QUEUE_FULL
	ErrClosed           = sentinel(CodeClosed)           // CLOSED
	ErrProtocol         = sentinel(CodeProtocol)         // PROTOCOL
	ErrCorruptRecord    = sentinel(CodeCorruptRecord)    // CORRUPT_RECORD
	ErrPanic            = sentinel(CodePanic)            // PANIC
	ErrTransport        = sentinel(CodeTransport)        // TRANSPORT
	ErrMsgTooLarge      = sentinel(CodeMsgTooLarge)      // MSG_TOO_LARGE
	ErrOffsetOutOfRange = sentinel(CodeOffsetOutOfRange) // OFFSET_OUT_OF_RANGE
	ErrPurged           = sentinel(CodePurged)           // PURGED
	ErrUnknownOutcome   = sentinel(CodeUnknownOutcome)   // UNKNOWN_OUTCOME
	ErrInCallback       = sentinel(CodeInCallback)       // IN_CALLBACK
	ErrState            = sentinel(CodeState)            // STATE
	ErrIO               = sentinel(CodeIO)               // IO
	ErrTLS              = sentinel(CodeTLS)              // TLS
	ErrCancelled        = sentinel(CodeCancelled)        // CANCELLED
	ErrDeliveryFailed   = sentinel(CodeDeliveryFailed)   // DELIVERY_FAILED
	ErrCircuitOpen      = sentinel(CodeCircuitOpen)      // CIRCUIT_OPEN
	ErrUnknownTopic     = sentinel(CodeUnknownTopic)     // UNKNOWN_TOPIC
	ErrNotLeader        = sentinel(CodeNotLeader)        // NOT_LEADER
	ErrForwardFailed    = sentinel(CodeForwardFailed)    // FORWARD_FAILED
	ErrRateLimited      = sentinel(CodeRateLimited)      // RATE_LIMITED
	ErrAuthRequired     = sentinel(CodeAuthRequired)     // AUTH_REQUIRED
	ErrAuthFailed       = sentinel(CodeAuthFailed)       // AUTH_FAILED
	ErrCatchingUp       = sentinel(CodeCatchingUp)       // CATCHING_UP
	ErrTopicExists      = sentinel(CodeTopicExists)      // TOPIC_EXISTS
	ErrInvalidName      = sentinel(CodeInvalidName)      // INVALID_NAME
	ErrServerError      = sentinel(CodeServerError)      // SERVER_ERROR
)

// Sentinel returns the sentinel error for a code (nil for CodeOK or an unknown code).
func Sentinel(c Code) *Error {
	for _, s := range []*Error{
		ErrInvalidArg, ErrUnknownKey, ErrInvalidValue, ErrTimedOut, ErrQueueFull, ErrClosed,
		ErrProtocol, ErrCorruptRecord, ErrPanic, ErrTransport, ErrMsgTooLarge, ErrOffsetOutOfRange,
		ErrPurged, ErrUnknownOutcome, ErrInCallback, ErrState, ErrIO, ErrTLS, ErrCancelled, ErrDeliveryFailed, ErrCircuitOpen, ErrUnknownTopic, ErrNotLeader,
		ErrForwardFailed, ErrRateLimited, ErrAuthRequired, ErrAuthFailed, ErrCatchingUp,
		ErrTopicExists, ErrInvalidName, ErrServerError,
	} {
		if s.Code == c {
			return s
		}
	}
	return nil
}

// errorFrom converts a detailed lnc_error_t (may be NULL) and frees it. rc is the call's
// return code, used when no detail was given.
func errorFrom(rc C.lnc_err_t, cerr *C.lnc_error_t) error {
	if rc == C.LNC_ERR_OK && cerr == nil {
		return nil
	}
	if cerr == nil {
		return codeError(Code(rc))
	}
	e := readError(cerr)
	C.lnc_error_free(cerr)
	if e.Code == CodeOK {
		e.Code = Code(rc)
	}
	return e
}

// readError copies an lnc_error_t without freeing it.
func readError(cerr *C.lnc_error_t) *Error {
	var info C.lnc_go_error_info
	C.lnc_go_error_read(cerr, &info)
	e := &Error{
		Code:      Code(info.code),
		retryable: info.retryable != 0,
		fatal:     info.fatal != 0,
	}
	if info.message != nil {
		e.Message = C.GoString(info.message)
	}
	if info.leader != nil {
		e.LeaderAddr = C.GoString(info.leader)
	}
	if info.has_offset != 0 {
		e.HasServerOffset = true
		e.ServerOffset = uint64(info.offset)
	}
	return e
}

// codeError is an *Error for a bare return code (calls that give no lnc_error_t).
func codeError(c Code) error {
	if c == CodeOK {
		return nil
	}
	return &Error{Code: c, Message: c.Description()}
}

func closedError(what string) error {
	return &Error{Code: CodeClosed, Message: what + " is closed"}
}
