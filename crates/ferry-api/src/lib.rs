//! BaseSpace REST API wire types (v2 and v1pre3), shared by the client and the hub.
