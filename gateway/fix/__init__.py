"""FIX sessions of the gateway: the client acceptor and the conformance (echo) profile."""
