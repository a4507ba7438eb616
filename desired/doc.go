// Package desired reads what the profiles on disk ask for: which services
// should exist, wanting up or down, who owns their run state, and in which
// topology. It knows the HERMES_HOME layout (Layout) and nothing of any
// service manager. With Options.Claims it also works out what each
// profile's gateway would claim once it runs (Claim): the credentials
// Hermes guards with a lock and the ports its listeners bind, from the
// gateway's environment, .env files and config.yaml. It only reads; bad
// input becomes a Diagnostic of its profile, never an error that stops the
// others.
package desired
