// Package reconcile decides and carries out: Plan compares the desired and
// actual states and returns the actions that converge them, with reasons;
// Apply hands each action to a backend; Watch runs passes as profiles change.
// Plan is a pure function: it has nothing to write with.
package reconcile
