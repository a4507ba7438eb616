// Package desired turns the profiles on disk into the services that should
// exist: which slots, rendered to which bytes, wanting up or down, and who
// owns their run state. It only reads; bad input becomes a Diagnostic, never
// an error that stops the other profiles.
package desired
