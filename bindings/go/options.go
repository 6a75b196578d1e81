package lnc

import "log/slog"

// handleOptions are the Go-side settings every handle takes (HandleOption).
type handleOptions struct {
	logger      *slog.Logger
	eventBuffer int
}

// HandleOption configures the Go side of any handle: it is a ProducerOption, a ConsumerOption
// and an AdminOption (WithLogger, WithEventBuffer).
type HandleOption struct{ apply func(*handleOptions) }

func (o HandleOption) applyProducer(p *producerOptions) { o.apply(&p.handle) }
func (o HandleOption) applyConsumer(c *consumerOptions) { o.apply(&c.handle) }
func (o HandleOption) applyAdmin(a *adminOptions)       { o.apply(&a.handle) }

// ProducerOption configures the Go side of a Producer (liblnc settings go in Config):
// WithReportChannel, WithDeliveryFunc, WithCloseTimeout and every HandleOption.
type ProducerOption interface{ applyProducer(*producerOptions) }

type producerOptionFunc func(*producerOptions)

func (f producerOptionFunc) applyProducer(o *producerOptions) { f(o) }

// ConsumerOption configures the Go side of a Consumer: every HandleOption.
type ConsumerOption interface{ applyConsumer(*consumerOptions) }

type consumerOptions struct{ handle handleOptions }

// AdminOption configures the Go side of an Admin: every HandleOption.
type AdminOption interface{ applyAdmin(*adminOptions) }

type adminOptions struct{ handle handleOptions }

// WithLogger sends liblnc's log lines for this handle to l (lnc_conf_set_log_cb) instead of
// stderr, each as one record with the line as its message and the attribute handle=producer,
// consumer or admin. liblnc's levels map to slog's: error → Error, warn → Warn, info → Info,
// debug → Debug. Unless the Config sets log.level, liblnc is told the least severe level l
// is enabled for (so lines nobody wants are never formatted).
//
// liblnc calls back on its own threads; the binding only copies the line into a bounded queue
// (1024 lines) there and never blocks: a goroutine per handle passes the lines to l in order.
// Lines that find the queue full are dropped and counted, and one Warn record says how many.
// A panic in l's handler is recovered and returned as a *CallbackPanicError (Callback
// "WithLogger") by the handle's next Close (and the producer's Flush). The token never appears
// in a line (liblnc scrubs it). A nil l keeps liblnc's default: lines at or above log.level go
// to stderr.
func WithLogger(l *slog.Logger) HandleOption {
	return HandleOption{func(o *handleOptions) { o.logger = l }}
}

// WithEventBuffer sets the capacity of the Events channel (default 256; less than 1 means the
// default). The binding never blocks on that channel: see Producer.Events for the drop policy.
func WithEventBuffer(capacity int) HandleOption {
	return HandleOption{func(o *handleOptions) { o.eventBuffer = capacity }}
}
