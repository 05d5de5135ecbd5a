//! `AWS_ENDPOINT_URL_SQS` is honoured through the standard AWS chain: with no endpoint in
//! [`SqsOptions`], the queue is made on the server that variable names. A test binary of its
//! own, because it sets process-wide environment variables.

use devflow_fleet::{DaemonQueue, SqsOptions};
use devflow_tests::moto::Moto;

#[tokio::test]
async fn the_sqs_endpoint_variable_points_the_client_at_a_local_server() {
    let moto = Moto::start();
    // Before any client exists and with no other thread reading the environment.
    for (name, value) in moto.aws_env() {
        std::env::set_var(name, value);
    }
    std::env::set_var("AWS_ENDPOINT_URL_SQS", &moto.endpoint);
    let queue = DaemonQueue::create(
        &SqsOptions {
            wait_seconds: 1,
            ..SqsOptions::default()
        },
        "from-env",
    )
    .await
    .expect("queue on the server AWS_ENDPOINT_URL_SQS names");
    assert_eq!(queue.client().endpoint(), moto.endpoint);
    assert!(
        queue.url().starts_with(&moto.endpoint),
        "{} is not on {}",
        queue.url(),
        moto.endpoint
    );
    queue.delete().await.expect("delete");
}
