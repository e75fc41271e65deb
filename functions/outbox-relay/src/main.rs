//! The outbox-relay Lambda: wiring only. Gets new outbox items from the table's stream and puts
//! their events on the bus; the logic is `crm::outbox`.
use aws_lambda_events::event::{dynamodb::Event, streams::DynamoDbEventResponse};
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = crm::Config::from_env()?;
    let bus_name = config.bus_name.ok_or("BUS_NAME is not set")?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let bus = crm::bus::EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&aws), bus_name);
    let bus = &bus;
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        // Failures come back as batch item failures, so the stream retries exactly those.
        Ok::<DynamoDbEventResponse, Error>(crm::outbox::handle(bus, event.payload).await)
    }))
    .await
}
