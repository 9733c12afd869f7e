//! Response bodies in JSON or XML, as the seeds show them.
//!
//! XML follows the seeds' samples: the root is `<{Action}Response>`, object
//! fields become child elements, and an array repeats its element name with no
//! wrapper (`<DtsJobList>` once per job).

use serde_json::{Map, Value};

/// The `Format` common parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json;charset=utf-8",
            Format::Xml => "text/xml;charset=utf-8",
        }
    }
}

/// Renders a success body.
pub fn success_body(format: Format, action: &str, body: &Map<String, Value>) -> String {
    match format {
        Format::Json => Value::Object(body.clone()).to_string(),
        Format::Xml => xml_document(&format!("{action}Response"), body),
    }
}

/// Renders an error body (root `<Error>` in XML).
pub fn error_body(format: Format, body: &Map<String, Value>) -> String {
    match format {
        Format::Json => Value::Object(body.clone()).to_string(),
        Format::Xml => xml_document("Error", body),
    }
}

fn xml_document(root: &str, body: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    out.push('<');
    out.push_str(root);
    out.push('>');
    write_fields(&mut out, body);
    out.push_str("</");
    out.push_str(root);
    out.push('>');
    out
}

fn write_fields(out: &mut String, fields: &Map<String, Value>) {
    for (name, value) in fields {
        write_element(out, name, value);
    }
}

fn write_element(out: &mut String, name: &str, value: &Value) {
    match value {
        Value::Array(items) => {
            for item in items {
                write_element(out, name, item);
            }
        }
        Value::Null => {
            out.push('<');
            out.push_str(name);
            out.push_str("/>");
        }
        other => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            match other {
                Value::Object(fields) => write_fields(out, fields),
                Value::String(s) => escape_into(out, s),
                scalar => escape_into(out, &scalar.to_string()),
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn xml_repeats_array_elements_without_a_wrapper() {
        let body = json!({"RequestId": "R", "DtsJobList": [{"DtsJobId": "a"}, {"DtsJobId": "b<"}], "Success": true, "Empty": {}});
        let Value::Object(map) = body else { unreachable!() };
        let xml = success_body(Format::Xml, "DescribeDtsJobs", &map);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><DescribeDtsJobsResponse><RequestId>R</RequestId>\
             <DtsJobList><DtsJobId>a</DtsJobId></DtsJobList><DtsJobList><DtsJobId>b&lt;</DtsJobId></DtsJobList>\
             <Success>true</Success><Empty></Empty></DescribeDtsJobsResponse>"
        );
    }

    #[test]
    fn json_keeps_field_order() {
        let body = json!({"Z": 1, "A": "x"});
        let Value::Object(map) = body else { unreachable!() };
        assert_eq!(success_body(Format::Json, "X", &map), r#"{"Z":1,"A":"x"}"#);
    }
}
