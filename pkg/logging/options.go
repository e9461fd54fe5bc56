package logging

// Option changes what New builds.
type Option func(*options)

type options struct{ fullNumbers bool }

// FullNumbers(true) logs phone numbers in full instead of masked: for
// debugging only, since it writes personal data into the logs
// (docs/operations.md, "Personal data").
func FullNumbers(on bool) Option { return func(o *options) { o.fullNumbers = on } }
