"""Pure rules: no I/O, no clock, no database. Everything here is a function of its arguments."""
