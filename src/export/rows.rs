//! The rows of an export: the columns every export has, the columns a
//! format adds, and the arrow builders that turn a chunk's records into
//! one record batch per partition.

use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder, UInt16Builder,
    UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use crate::analysis::PathNormalizer;
use crate::grammar::{Grammar, Role};
use crate::parse::Record;

/// Extra columns of a layout: (column name, field name in the grammar).
pub(super) type Extras = Vec<(String, String)>;

/// The columns every export has, in order.
fn base_fields() -> Vec<Field> {
    let list = |item: DataType| DataType::List(Arc::new(Field::new("item", item, true)));
    vec![
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("status", DataType::UInt16, true),
        Field::new("method", DataType::Utf8, true),
        Field::new("path", DataType::Utf8, true),
        Field::new("path_normalized", DataType::Utf8, true),
        Field::new("query", DataType::Utf8, true),
        Field::new("protocol", DataType::Utf8, true),
        Field::new("host", DataType::Utf8, true),
        Field::new("remote_addr", DataType::Utf8, true),
        Field::new("remote_user", DataType::Utf8, true),
        Field::new("bytes", DataType::UInt64, true),
        Field::new("referer", DataType::Utf8, true),
        Field::new("user_agent", DataType::Utf8, true),
        Field::new("request_time", DataType::Float64, true),
        Field::new("upstream_addr", DataType::Utf8, true),
        Field::new("upstream_status", DataType::UInt16, true),
        Field::new("upstream_response_time", DataType::Float64, true),
        Field::new("upstream_addrs", list(DataType::Utf8), true),
        Field::new("upstream_statuses", list(DataType::UInt16), true),
        Field::new("upstream_response_times", list(DataType::Float64), true),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("source_line", DataType::UInt64, false),
    ]
}

/// A field name as a column name: `%{X-Trace}i` -> `x_trace_i`.
fn column_name(field: &str) -> String {
    let name: String = field
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    name.trim_matches('_').to_string()
}

/// The grammar's fields that have no typed column, kept as text columns.
pub(super) fn extra_fields(grammar: &Grammar) -> Vec<(String, String)> {
    let has_body = grammar.fields().any(|f| f.role == Role::BodyBytes);
    let base = base_fields();
    let mut out: Vec<(String, String)> = Vec::new();
    for f in grammar.fields() {
        let extra = match f.role {
            Role::Other
            | Role::Ident
            | Role::BytesReceived
            | Role::ServerPort
            | Role::XForwardedFor
            | Role::UpstreamConnectTime
            | Role::UpstreamHeaderTime => true,
            Role::BytesSent => has_body,
            _ => false,
        };
        let column = match f.role {
            Role::Ident => "ident".to_string(),
            Role::BytesReceived => "bytes_received".to_string(),
            Role::BytesSent => "bytes_sent".to_string(),
            Role::ServerPort => "server_port".to_string(),
            Role::XForwardedFor => "x_forwarded_for".to_string(),
            Role::UpstreamConnectTime => "upstream_connect_time".to_string(),
            Role::UpstreamHeaderTime => "upstream_header_time".to_string(),
            _ => column_name(&f.name),
        };
        if extra
            && !column.is_empty()
            && !out.iter().any(|(c, _)| *c == column)
            && !base.iter().any(|b| b.name() == &column)
        {
            out.push((column, f.name.clone()));
        }
    }
    out
}

/// Builds one record batch, column by column.
pub(super) struct Rows {
    schema: Arc<Schema>,
    /// (column name, field name in the grammar)
    extras: Vec<(String, String)>,
    timestamp: TimestampMicrosecondBuilder,
    status: UInt16Builder,
    text: Vec<StringBuilder>,
    bytes: UInt64Builder,
    request_time: Float64Builder,
    upstream_status: UInt16Builder,
    upstream_time: Float64Builder,
    addrs: ListBuilder<StringBuilder>,
    statuses: ListBuilder<UInt16Builder>,
    times: ListBuilder<Float64Builder>,
    source_file: StringBuilder,
    source_line: UInt64Builder,
    extra: Vec<StringBuilder>,
    pub(super) len: usize,
}

/// Text columns of the base schema, in order: method, path,
/// path_normalized, query, protocol, host, remote_addr, remote_user,
/// referer, user_agent, upstream_addr.
const TEXT_COLUMNS: usize = 11;

/// How much a chunk's rows held: the next chunk's builders start that big
/// instead of doubling their way up to it (reallocating and copying their
/// buffers as they grew was 4% of building the rows).
#[derive(Debug, Clone, Default)]
pub(super) struct Sizes {
    rows: usize,
    /// Bytes of each text column.
    text: [usize; TEXT_COLUMNS],
    /// Upstream attempts, and the bytes of their addresses.
    attempts: usize,
    addr_bytes: usize,
    source_file: usize,
    extra: Vec<usize>,
}

impl Sizes {
    /// The larger of the two, column by column.
    pub(super) fn max(&mut self, other: &Sizes) {
        self.rows = self.rows.max(other.rows);
        for (a, b) in self.text.iter_mut().zip(&other.text) {
            *a = (*a).max(*b);
        }
        self.attempts = self.attempts.max(other.attempts);
        self.addr_bytes = self.addr_bytes.max(other.addr_bytes);
        self.source_file = self.source_file.max(other.source_file);
        self.extra
            .resize(other.extra.len().max(self.extra.len()), 0);
        for (a, b) in self.extra.iter_mut().zip(&other.extra) {
            *a = (*a).max(*b);
        }
    }
}

/// The schema of a layout: the base columns, then its extra ones.
pub(super) fn schema(extras: &[(String, String)]) -> Arc<Schema> {
    let mut fields = base_fields();
    fields.extend(
        extras
            .iter()
            .map(|(n, _)| Field::new(n.as_str(), DataType::Utf8, true)),
    );
    Arc::new(Schema::new(fields))
}

impl Rows {
    pub(super) fn with_sizes(extras: &[(String, String)], sizes: &Sizes) -> Rows {
        let rows = sizes.rows;
        Rows {
            schema: schema(extras),
            extras: extras.to_vec(),
            timestamp: TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            status: UInt16Builder::with_capacity(rows),
            text: sizes
                .text
                .iter()
                .map(|&bytes| StringBuilder::with_capacity(rows, bytes))
                .collect(),
            bytes: UInt64Builder::with_capacity(rows),
            request_time: Float64Builder::with_capacity(rows),
            upstream_status: UInt16Builder::with_capacity(rows),
            upstream_time: Float64Builder::with_capacity(rows),
            addrs: ListBuilder::with_capacity(
                StringBuilder::with_capacity(sizes.attempts, sizes.addr_bytes),
                rows,
            ),
            statuses: ListBuilder::with_capacity(
                UInt16Builder::with_capacity(sizes.attempts),
                rows,
            ),
            times: ListBuilder::with_capacity(Float64Builder::with_capacity(sizes.attempts), rows),
            source_file: StringBuilder::with_capacity(rows, sizes.source_file),
            source_line: UInt64Builder::with_capacity(rows),
            extra: (0..extras.len())
                .map(|i| {
                    StringBuilder::with_capacity(rows, sizes.extra.get(i).copied().unwrap_or(0))
                })
                .collect(),
            len: 0,
        }
    }

    pub(super) fn push(
        &mut self,
        r: &Record,
        file: &str,
        line: u64,
        paths: &PathNormalizer,
        buf: &mut Vec<u8>,
    ) {
        let text = crate::text::LineText::of(r.line());
        self.timestamp.append_option(r.time().map(|t| t.micros));
        self.status.append_option(r.status());
        let req = r.request();
        let normalized = match req.path {
            Some(p) => {
                paths.normalize(&p.decode(), buf);
                Some(&buf[..])
            }
            None => None,
        };
        let mut attempts = r.upstreams();
        let mut last = None;
        let mut any = false;
        for a in attempts.by_ref() {
            any = true;
            self.addrs
                .values()
                .append_option(a.addr.map(|a| text.field(a)));
            self.statuses.values().append_option(a.status);
            self.times.values().append_option(a.response_time);
            last = Some(a);
        }
        self.addrs.append(any);
        self.statuses.append(any);
        self.times.append(any);
        // Text goes into the builders borrowed where it is UTF-8 and needs
        // no unescaping: no allocation per field.
        fn decoded<'a>(v: Option<crate::parse::Value<'a>>) -> Option<std::borrow::Cow<'a, [u8]>> {
            v.map(|v| v.decode())
        }
        let texts: [Option<std::borrow::Cow<[u8]>>; TEXT_COLUMNS] = [
            req.method.map(std::borrow::Cow::Borrowed),
            decoded(req.path),
            normalized.map(std::borrow::Cow::Borrowed),
            decoded(req.query),
            req.protocol.map(std::borrow::Cow::Borrowed),
            decoded(r.host()),
            decoded(r.remote_addr()),
            decoded(r.remote_user()),
            decoded(r.referer()),
            decoded(r.user_agent()),
            last.and_then(|a| a.addr).map(std::borrow::Cow::Borrowed),
        ];
        for (builder, value) in self.text.iter_mut().zip(texts) {
            builder.append_option(value.as_deref().map(|v| text.field(v)));
        }
        self.bytes.append_option(r.bytes());
        self.request_time.append_option(r.request_time());
        self.upstream_status
            .append_option(last.and_then(|a| a.status));
        self.upstream_time
            .append_option(last.and_then(|a| a.response_time));
        self.source_file.append_value(file);
        self.source_line.append_value(line);
        for ((_, field), builder) in self.extras.iter().zip(self.extra.iter_mut()) {
            builder.append_option(r.field(field).map(|v| v.to_string_lossy()));
        }
        self.len += 1;
    }

    pub(super) fn sizes(&self) -> Sizes {
        Sizes {
            rows: self.len,
            text: std::array::from_fn(|i| self.text[i].values_slice().len()),
            attempts: arrow_array::builder::ArrayBuilder::len(self.addrs.values_ref()),
            addr_bytes: self.addrs.values_ref().values_slice().len(),
            source_file: self.source_file.values_slice().len(),
            extra: self.extra.iter().map(|b| b.values_slice().len()).collect(),
        }
    }

    pub(super) fn finish(&mut self) -> RecordBatch {
        let text: Vec<ArrayRef> = self
            .text
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        // In schema order; `text` holds method .. remote_user (0..8),
        // referer (8), user_agent (9) and upstream_addr (10).
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.timestamp.finish()),
            Arc::new(self.status.finish()),
        ];
        columns.extend(text[..8].iter().cloned());
        columns.push(Arc::new(self.bytes.finish()));
        columns.push(text[8].clone());
        columns.push(text[9].clone());
        columns.push(Arc::new(self.request_time.finish()));
        columns.push(text[10].clone());
        columns.push(Arc::new(self.upstream_status.finish()));
        columns.push(Arc::new(self.upstream_time.finish()));
        columns.push(Arc::new(self.addrs.finish()));
        columns.push(Arc::new(self.statuses.finish()));
        columns.push(Arc::new(self.times.finish()));
        columns.push(Arc::new(self.source_file.finish()));
        columns.push(Arc::new(self.source_line.finish()));
        for b in &mut self.extra {
            columns.push(Arc::new(b.finish()));
        }
        self.len = 0;
        RecordBatch::try_new(self.schema.clone(), columns).expect("columns match the schema")
    }
}
