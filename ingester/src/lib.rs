//! Spoor's ingester: consumes spans from Kafka and writes them to storage, committing an offset
//! only once every span up to it is durably written. (Built out by the streaming issue.)
#![forbid(unsafe_code)]
