//! What SIP response codes and methods mean. Pure data and lookups; depends on nothing.
