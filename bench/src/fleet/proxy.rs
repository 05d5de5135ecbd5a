//! The counting proxy: a small HTTP/1.1 server in the bench process between one daemon and
//! moto (the daemon's `AWS_ENDPOINT_URL_DYNAMODB` / `_SQS` / `_S3` point at it). Every
//! request is read whole, forwarded unchanged (hop-by-hop headers aside) and its answer
//! passed back unchanged; each exchange is priced by [`billing::price`] and added to a
//! [`Ledger`]. One proxy per daemon, so the counts say which daemon made the calls.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::billing::{self, Call, Service};

/// One row of the ledger: what was called, on which table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operation {
    pub service: Service,
    pub name: String,
    /// The DynamoDB table without the prefix, the S3 key's shape, else "".
    pub resource: String,
}

impl Operation {
    pub fn label(&self) -> String {
        if self.resource.is_empty() {
            format!("{} {}", self.service.name(), self.name)
        } else {
            format!("{} {} `{}`", self.service.name(), self.name, self.resource)
        }
    }
}

/// Sums over the calls of one [`Operation`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub calls: u64,
    pub failed: u64,
    pub read_units: f64,
    pub write_units: f64,
    pub sqs_billed: f64,
    pub messages: u64,
    pub payload_bytes: u64,
    pub empty_receives: u64,
    /// Summed time from forwarding a request to having moto's whole answer.
    pub upstream: Duration,
}

impl Totals {
    fn add(&mut self, call: &Call, upstream: Duration) {
        self.calls += 1;
        self.upstream += upstream;
        self.failed += u64::from(call.failed);
        self.read_units += call.read_units;
        self.write_units += call.write_units;
        self.sqs_billed += call.sqs_billed;
        self.messages += call.messages;
        self.payload_bytes += call.payload_bytes;
        self.empty_receives += u64::from(call.empty_receive);
    }

    fn minus(&self, earlier: &Totals) -> Totals {
        Totals {
            calls: self.calls.saturating_sub(earlier.calls),
            failed: self.failed.saturating_sub(earlier.failed),
            read_units: self.read_units - earlier.read_units,
            write_units: self.write_units - earlier.write_units,
            sqs_billed: self.sqs_billed - earlier.sqs_billed,
            messages: self.messages.saturating_sub(earlier.messages),
            payload_bytes: self.payload_bytes.saturating_sub(earlier.payload_bytes),
            empty_receives: self.empty_receives.saturating_sub(earlier.empty_receives),
            upstream: self.upstream.saturating_sub(earlier.upstream),
        }
    }

    pub fn plus(&self, other: &Totals) -> Totals {
        Totals {
            calls: self.calls + other.calls,
            failed: self.failed + other.failed,
            read_units: self.read_units + other.read_units,
            write_units: self.write_units + other.write_units,
            sqs_billed: self.sqs_billed + other.sqs_billed,
            messages: self.messages + other.messages,
            payload_bytes: self.payload_bytes + other.payload_bytes,
            empty_receives: self.empty_receives + other.empty_receives,
            upstream: self.upstream + other.upstream,
        }
    }
}

/// Calls by operation: a running count, or the difference of two snapshots.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    pub rows: BTreeMap<Operation, Totals>,
}

impl Ledger {
    fn add(&mut self, call: &Call, upstream: Duration) {
        let operation = Operation {
            service: call.service,
            name: call.operation.clone(),
            resource: call.resource.clone(),
        };
        self.rows.entry(operation).or_default().add(call, upstream);
    }

    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &Ledger) -> Ledger {
        let rows = self
            .rows
            .iter()
            .map(|(operation, totals)| {
                let before = earlier.rows.get(operation).cloned().unwrap_or_default();
                (operation.clone(), totals.minus(&before))
            })
            .filter(|(_, totals)| totals.calls > 0)
            .collect();
        Ledger { rows }
    }

    /// Both ledgers' calls together (two daemons' proxies).
    pub fn merged(&self, other: &Ledger) -> Ledger {
        let mut rows = self.rows.clone();
        for (operation, totals) in &other.rows {
            let merged = rows.entry(operation.clone()).or_default().plus(totals);
            rows.insert(operation.clone(), merged);
        }
        Ledger { rows }
    }

    /// The sum over one service's operations.
    pub fn service(&self, service: Service) -> Totals {
        self.rows
            .iter()
            .filter(|(operation, _)| operation.service == service)
            .fold(Totals::default(), |sum, (_, totals)| sum.plus(totals))
    }

    /// One operation's totals (zero when it was not called).
    pub fn operation(&self, service: Service, name: &str) -> Totals {
        self.rows
            .iter()
            .filter(|(operation, _)| operation.service == service && operation.name == name)
            .fold(Totals::default(), |sum, (_, totals)| sum.plus(totals))
    }

    /// USD for these calls at the published prices (`billing`'s constants).
    pub fn usd(&self) -> f64 {
        self.rows
            .iter()
            .map(|(operation, totals)| match operation.service {
                Service::DynamoDb => {
                    totals.read_units * billing::DYNAMODB_USD_PER_MILLION_READ_UNITS / 1e6
                        + totals.write_units * billing::DYNAMODB_USD_PER_MILLION_WRITE_UNITS / 1e6
                }
                Service::Sqs => {
                    totals.sqs_billed * billing::SQS_STANDARD_USD_PER_MILLION_REQUESTS / 1e6
                }
                Service::S3 => totals.calls as f64 * billing::s3_usd_per_request(&operation.name),
            })
            .sum()
    }
}

/// A running proxy; stops accepting when dropped.
pub struct CountingProxy {
    /// `http://127.0.0.1:PORT`, for the daemon's `AWS_ENDPOINT_URL_*`.
    pub endpoint: String,
    ledger: Arc<Mutex<Ledger>>,
    accept: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://127.0.0.1:PORT`);
    /// `table_prefix` is stripped from the table names it records.
    pub async fn start(upstream: &str, table_prefix: &str) -> anyhow::Result<CountingProxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind the counting proxy")?;
        let address = listener
            .local_addr()
            .context("the counting proxy has no address")?;
        // No timeout: SQS long polls hold a request for 20 s.
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .context("cannot build the proxy's HTTP client")?;
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let forwarder = Arc::new(Forwarder {
            client,
            upstream: upstream.trim_end_matches('/').to_string(),
            table_prefix: table_prefix.to_string(),
            ledger: ledger.clone(),
        });
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let forwarder = forwarder.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let forwarder = forwarder.clone();
                        async move { Ok::<_, Infallible>(forwarder.forward(request).await) }
                    });
                    // A daemon that closes its connection mid-request ends it here; nothing
                    // to count.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(CountingProxy {
            endpoint: format!("http://{address}"),
            ledger,
            accept,
        })
    }

    /// The counts so far.
    pub fn snapshot(&self) -> Ledger {
        lock(&self.ledger).clone()
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

struct Forwarder {
    client: reqwest::Client,
    upstream: String,
    table_prefix: String,
    ledger: Arc<Mutex<Ledger>>,
}

impl Forwarder {
    async fn forward(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => return bad_gateway(format!("reading the request: {error}")),
        };
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let mut upstream = self
            .client
            .request(parts.method.clone(), format!("{}{path}", self.upstream));
        for (name, value) in &parts.headers {
            if !hop_by_hop(name.as_str()) {
                upstream = upstream.header(name, value);
            }
        }
        let sent = Instant::now();
        let answer = match upstream.body(body.clone()).send().await {
            Ok(answer) => answer,
            Err(error) => return bad_gateway(format!("moto did not answer: {error}")),
        };
        let status = answer.status();
        let headers = answer.headers().clone();
        let answer_body = match answer.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => return bad_gateway(format!("reading moto's answer: {error}")),
        };
        let upstream_time = sent.elapsed();
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok());
        let call = billing::price(
            &billing::Exchange {
                method: parts.method.as_str(),
                path: &path,
                target,
                request: &body,
                status: status.as_u16(),
                response: &answer_body,
            },
            &self.table_prefix,
        );
        lock(&self.ledger).add(&call, upstream_time);
        let mut response = Response::new(Full::new(answer_body));
        *response.status_mut() = status;
        for (name, value) in &headers {
            if !hop_by_hop(name.as_str()) {
                response.headers_mut().append(name, value.clone());
            }
        }
        response
    }
}

/// Headers that belong to one connection, not to the exchange (and the length, which the
/// forwarded body sets again).
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

fn bad_gateway(message: String) -> Response<Full<Bytes>> {
    eprintln!("devflow-bench: counting proxy: {message}");
    let mut response = Response::new(Full::new(Bytes::from(message)));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: Service, operation: &str, write_units: f64, sqs_billed: f64) -> Call {
        Call {
            service,
            operation: operation.into(),
            resource: String::new(),
            read_units: 0.0,
            write_units,
            sqs_billed,
            messages: 0,
            payload_bytes: 0,
            empty_receive: false,
            failed: false,
        }
    }

    #[test]
    fn a_window_is_the_difference_of_two_snapshots_and_daemons_add_up() {
        let mut running = Ledger::default();
        let ms = Duration::from_millis;
        running.add(&call(Service::DynamoDb, "PutItem", 2.0, 0.0), ms(4));
        let before = running.clone();
        running.add(&call(Service::DynamoDb, "PutItem", 3.0, 0.0), ms(6));
        running.add(&call(Service::Sqs, "ReceiveMessage", 0.0, 1.0), ms(20));
        let window = running.since(&before);
        let put = window.operation(Service::DynamoDb, "PutItem");
        assert_eq!((put.calls, put.write_units, put.upstream), (1, 3.0, ms(6)));
        assert_eq!(window.service(Service::Sqs).calls, 1);

        let both = window.merged(&window);
        assert_eq!(both.service(Service::DynamoDb).write_units, 6.0);
        // 6 write units at USD 0.625 a million and 2 SQS requests at USD 0.40 a million.
        let expected = 6.0 * 0.625e-6 + 2.0 * 0.40e-6;
        assert!((both.usd() - expected).abs() < 1e-15, "{}", both.usd());
    }
}
