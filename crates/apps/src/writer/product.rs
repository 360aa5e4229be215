//! A product's attributes, and reading them in batches from CSV or JSON-lines files.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{Result, WriterError};

/// The columns (CSV) or keys (JSON lines) of a product file.
pub const PRODUCT_FIELDS: [&str; 7] = ["name", "category", "features", "audience", "tone", "length", "language"];

/// How long the copy should be; each kind of copy sets its word bounds per length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Length {
    /// A few sentences.
    Short,
    /// A paragraph (the default).
    #[default]
    Medium,
    /// Several paragraphs.
    Long,
}

impl Length {
    /// Reads `short`, `medium` or `long` (any case).
    pub fn parse(s: &str) -> Option<Length> {
        match s.trim().to_lowercase().as_str() {
            "short" => Some(Length::Short),
            "medium" => Some(Length::Medium),
            "long" => Some(Length::Long),
            _ => None,
        }
    }
}

/// What the copy is written from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Product {
    /// The product's name (must appear in the copy).
    pub name: String,
    /// Its category (e.g. "hiking boots").
    pub category: String,
    /// Its features (each must appear in the copy).
    pub features: Vec<String>,
    /// Who it is for.
    pub audience: Option<String>,
    /// The voice of the copy (e.g. "friendly", "technical").
    pub tone: Option<String>,
    /// How long the copy should be.
    pub length: Length,
    /// The language to write in (default English).
    pub language: Option<String>,
}

/// One raw record: every field as text (CSV) or as JSON (JSON lines).
type Record = Vec<(String, serde_json::Value)>;

/// Splits a CSV `features` cell: features separated by `;` or `|`.
fn split_features(cell: &str) -> Vec<String> {
    cell.split([';', '|']).map(str::trim).filter(|f| !f.is_empty()).map(String::from).collect()
}

/// A product from one record; `at` says where it came from (file and line) for errors.
fn product(record: Record, at: &str) -> Result<Product> {
    let bad = |msg: String| WriterError::Product { at: at.to_string(), msg };
    let unknown: Vec<&str> = record.iter().map(|(k, _)| k.as_str()).filter(|k| !PRODUCT_FIELDS.contains(k)).collect();
    if !unknown.is_empty() {
        return Err(bad(format!("unknown column(s) {} (known: {})", unknown.join(", "), PRODUCT_FIELDS.join(", "))));
    }
    let mut p = Product::default();
    for (key, value) in record {
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => Ok(s.trim().to_string()),
            serde_json::Value::Null => Ok(String::new()),
            other => Err(bad(format!("`{key}` must be text, got {other}"))),
        };
        match key.as_str() {
            "name" => p.name = text(&value)?,
            "category" => p.category = text(&value)?,
            "features" => {
                p.features = match &value {
                    serde_json::Value::Array(items) => items.iter().map(text).collect::<Result<Vec<_>>>()?.into_iter().filter(|f| !f.is_empty()).collect(),
                    v => split_features(&text(v)?),
                }
            }
            "audience" => p.audience = Some(text(&value)?).filter(|s| !s.is_empty()),
            "tone" => p.tone = Some(text(&value)?).filter(|s| !s.is_empty()),
            "language" => p.language = Some(text(&value)?).filter(|s| !s.is_empty()),
            "length" => {
                let s = text(&value)?;
                if !s.is_empty() {
                    p.length = Length::parse(&s).ok_or_else(|| bad(format!("length {s:?} is not short, medium or long")))?;
                }
            }
            _ => {} // unknown fields were refused above
        }
    }
    if p.name.is_empty() {
        return Err(bad("the product has no `name`".into()));
    }
    Ok(p)
}

/// Reads the products of a CSV file (a header row naming the columns of [`PRODUCT_FIELDS`];
/// features separated by `;` or `|`).
pub fn read_csv(path: &Path) -> Result<Vec<Product>> {
    let file = || path.display().to_string();
    let mut reader = csv::Reader::from_path(path).map_err(|e| WriterError::Product { at: file(), msg: e.to_string() })?;
    let headers: Vec<String> = reader.headers().map_err(|e| WriterError::Product { at: file(), msg: e.to_string() })?.iter().map(|h| h.trim().to_string()).collect();
    let mut products = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let at = format!("{}:{}", file(), i + 2);
        let row = row.map_err(|e| WriterError::Product { at: at.clone(), msg: e.to_string() })?;
        let record = headers.iter().cloned().zip(row.iter().map(|c| serde_json::Value::String(c.to_string()))).collect();
        products.push(product(record, &at)?);
    }
    if products.is_empty() {
        return Err(WriterError::Product { at: file(), msg: "no products (a header row and at least one product row are needed)".into() });
    }
    Ok(products)
}

/// Reads the products of a JSON-lines file: one object per line with the keys of
/// [`PRODUCT_FIELDS`] (`features` an array of strings or one `;`-separated string); blank lines
/// are skipped.
pub fn read_jsonl(path: &Path) -> Result<Vec<Product>> {
    let text = std::fs::read_to_string(path).map_err(|e| WriterError::Product { at: path.display().to_string(), msg: e.to_string() })?;
    let mut products = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = format!("{}:{}", path.display(), i + 1);
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).map_err(|e| WriterError::Product { at: at.clone(), msg: format!("not a JSON object: {e}") })?;
        products.push(product(object.into_iter().collect(), &at)?);
    }
    if products.is_empty() {
        return Err(WriterError::Product { at: path.display().to_string(), msg: "no products".into() });
    }
    Ok(products)
}

/// Reads a product file: JSON lines when it ends in `.jsonl` or `.json`, else CSV.
pub fn read_products(path: &Path) -> Result<Vec<Product>> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl" | "json") => read_jsonl(path),
        _ => read_csv(path),
    }
}
