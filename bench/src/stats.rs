//! Percentiles of latency samples and the markdown table the run prints. Pure: values in,
//! text out. Percentiles are nearest-rank, so p99 of 500 samples is the 495th smallest.

use std::fmt::Write as _;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub n: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// Nearest-rank percentiles; `None` for no samples.
pub fn summarize(samples: &[Duration]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = |p: f64| {
        let index = (p * sorted.len() as f64).ceil() as usize;
        sorted[index.clamp(1, sorted.len()) - 1]
    };
    Some(Summary {
        n: sorted.len(),
        p50: rank(0.50),
        p99: rank(0.99),
        max: sorted[sorted.len() - 1],
    })
}

/// One measured quantity and, when it is the subject, the anchor it is divided by.
struct Row {
    benchmark: String,
    what: String,
    summary: Summary,
}

/// The rows of a run, printed as one markdown table.
#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
    ratios: Vec<(String, String, Summary, Summary)>,
}

impl Table {
    /// Adds a measured quantity.
    pub fn add(&mut self, benchmark: &str, what: &str, summary: Summary) {
        self.rows.push(Row {
            benchmark: benchmark.to_string(),
            what: what.to_string(),
            summary,
        });
    }

    /// Adds `subject / anchor` for p50 and p99, printed after the rows of `benchmark`.
    pub fn ratio(&mut self, benchmark: &str, what: &str, subject: Summary, anchor: Summary) {
        self.ratios
            .push((benchmark.to_string(), what.to_string(), subject, anchor));
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("| benchmark | measured | n | p50 | p99 | max |\n");
        out.push_str("|---|---|---:|---:|---:|---:|\n");
        let mut benchmarks: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !benchmarks.contains(&row.benchmark.as_str()) {
                benchmarks.push(&row.benchmark);
            }
        }
        for benchmark in benchmarks {
            for row in self.rows.iter().filter(|r| r.benchmark == benchmark) {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    row.benchmark,
                    row.what,
                    row.summary.n,
                    millis(row.summary.p50),
                    millis(row.summary.p99),
                    millis(row.summary.max)
                );
            }
            for (_, what, subject, anchor) in self.ratios.iter().filter(|r| r.0 == benchmark) {
                let _ = writeln!(
                    out,
                    "| {benchmark} | **ratio** {what} | | **{}** | **{}** | |",
                    ratio(subject.p50, anchor.p50),
                    ratio(subject.p99, anchor.p99)
                );
            }
        }
        out
    }
}

/// `1.234 ms`, with three decimals (microsecond resolution).
pub fn millis(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1000.0)
}

fn ratio(subject: Duration, anchor: Duration) -> String {
    if anchor.is_zero() {
        return "∞".into();
    }
    format!("{:.1}×", subject.as_secs_f64() / anchor.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles_of_a_hundred_samples() {
        let samples = ms(&(1..=100).rev().collect::<Vec<_>>());
        let summary = summarize(&samples).expect("samples");
        assert_eq!(summary.n, 100);
        assert_eq!(summary.p50, Duration::from_millis(50));
        assert_eq!(summary.p99, Duration::from_millis(99));
        assert_eq!(summary.max, Duration::from_millis(100));
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let summary = summarize(&ms(&[7])).expect("one sample");
        assert_eq!(
            (summary.p50, summary.p99, summary.max),
            (
                Duration::from_millis(7),
                Duration::from_millis(7),
                Duration::from_millis(7)
            )
        );
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn ratio_rows_follow_their_benchmark() {
        let mut table = Table::default();
        let a = summarize(&ms(&[2])).expect("a");
        let b = summarize(&ms(&[1])).expect("b");
        table.add("x", "subject", a);
        table.add("x", "anchor", b);
        table.ratio("x", "subject / anchor", a, b);
        let text = table.markdown();
        assert!(
            text.contains("| x | **ratio** subject / anchor | | **2.0×** | **2.0×** | |"),
            "{text}"
        );
    }
}
