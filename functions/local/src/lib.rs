//! The local stack: every function in one process over DynamoDB Local, the in-process bus, the
//! ticks and the fake LINE Platform. Tests use the same pieces, so they run what Lambda runs.
pub mod apply;
pub mod bench;
pub mod control;
pub mod fake_line;
pub mod line_user;
pub mod outbox_stream;
pub mod stack;
pub mod time_travel;
