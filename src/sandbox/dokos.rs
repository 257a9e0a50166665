//! A simulated Dokos (Frappe / ERPNext) site: Sales Orders through `/api/resource/Sales Order`
//! and `frappe.client.submit` / `cancel`, invoices and payments through ERPNext's
//! `make_sales_invoice` / `get_payment_entry` and `/api/resource/Sales Invoice` / `Payment Entry`,
//! with Frappe's envelopes (`data`, `message`), statuses (417 for validation errors, 404, 409,
//! 401/403) and error bodies (`exc_type`, `_server_messages`), as recorded from a real Frappe 15
//! server.

use http::Method;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::{SANDBOX_KEY, SANDBOX_SECRET, SandboxReply, SandboxRequest, Vendor};
use super::{dec, float};

const RESOURCE: &str = "/api/resource/Sales%20Order";
const INVOICES: &str = "/api/resource/Sales%20Invoice";
const PAYMENTS: &str = "/api/resource/Payment%20Entry";
const MAKE_INVOICE: &str =
    "/api/method/erpnext.selling.doctype.sales_order.sales_order.make_sales_invoice";
const GET_PAYMENT: &str =
    "/api/method/erpnext.accounts.doctype.payment_entry.payment_entry.get_payment_entry";
/// The Mode of Payment records ERPNext installs.
const MODES: &[&str] = &[
    "Cash",
    "Bank Draft",
    "Cheque",
    "Credit Card",
    "Wire Transfer",
];

#[derive(Default)]
pub struct Dokos {
    orders: Vec<Value>,
    invoices: Vec<Value>,
    payments: Vec<Value>,
    next: u32,
    clock: u32,
}

fn error(status: u16, exc_type: &str, message: &str) -> SandboxReply {
    let inner =
        json!({"message": message, "title": "Message", "indicator": "red", "raise_exception": 1})
            .to_string();
    SandboxReply::json(
        status,
        &json!({
            "exception": format!("frappe.exceptions.{exc_type}: {message}"),
            "exc_type": exc_type,
            "_server_messages": json!([inner]).to_string(),
        }),
    )
}

impl Dokos {
    fn now(&mut self) -> String {
        self.clock += 1;
        format!(
            "2026-11-23 10:{:02}:{:02}.{:06}",
            (self.clock / 60) % 60,
            self.clock % 60,
            self.clock
        )
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.orders.iter().position(|o| o["name"] == name)
    }

    fn not_found(name: &str) -> SandboxReply {
        error(
            404,
            "DoesNotExistError",
            &format!("Sales Order {name} not found"),
        )
    }

    fn create(&mut self, body: &Value) -> SandboxReply {
        let Some(obj) = body.as_object() else {
            return error(500, "TypeError", "'NoneType' object is not iterable");
        };
        let Some(customer) = obj
            .get("customer")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
        else {
            return error(417, "MandatoryError", "[Sales Order, new]: customer");
        };
        let items = obj
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if items.is_empty() {
            return error(500, "TypeError", "'NoneType' object is not iterable");
        }
        if let Some(po) = obj.get("po_no").and_then(Value::as_str)
            && let Some(existing) = self
                .orders
                .iter()
                .find(|o| o["po_no"] == po && o["customer"] == customer && o["docstatus"] != 2)
        {
            return error(
                417,
                "ValidationError",
                &format!(
                    "Sales Order <strong>{}</strong> already exists against Customer's Purchase Order <strong>{po}</strong>.",
                    existing["name"].as_str().unwrap_or("")
                ),
            );
        }
        let docstatus = obj.get("docstatus").and_then(Value::as_u64).unwrap_or(0);
        if docstatus > 1 {
            return error(417, "ValidationError", "A new document cannot be cancelled");
        }
        let transaction_date = obj
            .get("transaction_date")
            .and_then(Value::as_str)
            .unwrap_or("2026-11-23")
            .to_string();
        let delivery_date = obj.get("delivery_date").cloned().unwrap_or(Value::Null);
        if let Some(d) = delivery_date.as_str()
            && d < transaction_date.as_str()
        {
            return error(
                417,
                "ValidationError",
                "Expected Delivery Date should be after Sales Order Date",
            );
        }
        self.next += 1;
        let name = format!("SAL-ORD-2026-{:05}", self.next);
        let mut total = Decimal::ZERO;
        let mut lines = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(code) = item.get("item_code").and_then(Value::as_str) else {
                return error(
                    417,
                    "MandatoryError",
                    &format!("[Sales Order Item, row {}]: item_code", i + 1),
                );
            };
            let Some(qty) = item.get("qty").and_then(dec) else {
                return error(
                    417,
                    "MandatoryError",
                    &format!("[Sales Order Item, row {}]: qty", i + 1),
                );
            };
            if qty <= Decimal::ZERO {
                return error(
                    417,
                    "InvalidQtyError",
                    &format!(
                        "Row #{}: Quantity for Item <strong>{code}</strong> cannot be zero.",
                        i + 1
                    ),
                );
            }
            let rate = item.get("rate").and_then(dec).unwrap_or(Decimal::ZERO);
            let discount = item
                .get("discount_percentage")
                .and_then(dec)
                .unwrap_or(Decimal::ZERO);
            let net_rate = rate - rate * discount / Decimal::from(100);
            let amount = (qty * net_rate).round_dp(2);
            total += amount;
            let mut line = item.as_object().cloned().unwrap_or_default();
            line.insert(
                "name".into(),
                json!(format!("{:010x}", (self.next as u64) << 8 | i as u64)),
            );
            line.insert("idx".into(), json!(i + 1));
            line.insert("item_name".into(), json!(code));
            line.insert("qty".into(), float(qty));
            line.insert("rate".into(), float(net_rate));
            line.insert("amount".into(), float(amount));
            line.insert(
                "uom".into(),
                line.get("uom").cloned().unwrap_or(json!("Nos")),
            );
            line.insert(
                "delivery_date".into(),
                line.get("delivery_date")
                    .cloned()
                    .unwrap_or(delivery_date.clone()),
            );
            line.insert("discount_percentage".into(), float(discount));
            lines.push(Value::Object(line));
        }
        let now = self.now();
        let mut doc = Map::new();
        for (k, v) in obj {
            if k != "items" {
                doc.insert(k.clone(), v.clone());
            }
        }
        let extra = json!({
            "name": name, "doctype": "Sales Order", "docstatus": docstatus,
            "status": if docstatus == 1 { "To Deliver and Bill" } else { "Draft" },
            "customer": customer, "customer_name": customer,
            "transaction_date": transaction_date, "delivery_date": delivery_date,
            "currency": obj.get("currency").cloned().unwrap_or(json!("EUR")),
            "conversion_rate": 1.0, "items": lines,
            "net_total": float(total), "total_taxes_and_charges": 0.0, "discount_amount": 0.0,
            "grand_total": float(total), "advance_paid": 0.0,
            "delivery_status": "Not Delivered", "billing_status": "Not Billed", "per_billed": 0.0,
            "creation": now, "modified": now,
        });
        if let Value::Object(e) = extra {
            doc.extend(e);
        }
        let doc = Value::Object(doc);
        self.orders.push(doc.clone());
        SandboxReply::json(200, &json!({ "data": doc }))
    }

    fn list(&self, req: &SandboxRequest) -> SandboxReply {
        let parse = |key: &str, default: &str| -> Result<Value, SandboxReply> {
            serde_json::from_str(req.query.get(key).map_or(default, String::as_str)).map_err(|_| {
                error(
                    500,
                    "JSONDecodeError",
                    &format!("Expecting value: `{key}` is not JSON"),
                )
            })
        };
        let fields = match parse("fields", "[\"name\"]") {
            Ok(Value::Array(f)) => f,
            Ok(_) => return error(417, "DataError", "fields must be a list"),
            Err(e) => return e,
        };
        let filters = match parse("filters", "[]") {
            Ok(Value::Array(f)) => f,
            Ok(_) => return error(417, "DataError", "filters must be a list"),
            Err(e) => return e,
        };
        let number = |key: &str, default: usize| {
            req.query
                .get(key)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(default)
        };
        let start = number("limit_start", 0);
        let length = number("limit_page_length", number("limit", 20));
        let descending = req
            .query
            .get("order_by")
            .is_none_or(|o| o.ends_with("desc"));
        let mut rows: Vec<&Value> = self
            .orders
            .iter()
            .filter(|o| filters.iter().all(|f| matches(o, f)))
            .collect();
        if descending {
            rows.reverse();
        }
        let take = if length == 0 { usize::MAX } else { length };
        let data: Vec<Value> = rows
            .into_iter()
            .skip(start)
            .take(take)
            .map(|o| {
                let mut out = Map::new();
                for f in &fields {
                    if let Some(name) = f.as_str() {
                        out.insert(
                            name.to_string(),
                            o.get(name).cloned().unwrap_or(Value::Null),
                        );
                    }
                }
                Value::Object(out)
            })
            .collect();
        SandboxReply::json(200, &json!({ "data": data }))
    }

    fn update(&mut self, i: usize, body: &Value) -> SandboxReply {
        let Some(changes) = body.as_object() else {
            return error(417, "ValidationError", "the body must be a document");
        };
        let current = self.orders[i]["docstatus"].as_u64().unwrap_or(0);
        for (k, v) in changes {
            if k == "docstatus" {
                let to = v.as_u64().unwrap_or(current);
                let allowed = matches!((current, to), (0, 0) | (0, 1) | (1, 1) | (1, 2) | (2, 2));
                if !allowed {
                    return error(
                        417,
                        "DocstatusTransitionError",
                        &format!("Cannot change docstatus from {current} to {to}"),
                    );
                }
                continue;
            }
            if current != 0 && !matches!(k.as_str(), "po_no" | "terms" | "delivery_date") {
                return error(
                    417,
                    "UpdateAfterSubmitError",
                    &format!("Not allowed to change {k} after submission"),
                );
            }
        }
        let now = self.now();
        let doc = &mut self.orders[i];
        for (k, v) in changes {
            doc[k.as_str()] = v.clone();
        }
        set_status(doc);
        doc["modified"] = json!(now);
        SandboxReply::json(200, &json!({ "data": doc }))
    }

    fn submit(&mut self, body: &Value) -> SandboxReply {
        let doc = match body.get("doc") {
            Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
            Some(d) => d.clone(),
            None => return error(417, "MandatoryError", "doc"),
        };
        let name = doc["name"].as_str().unwrap_or("");
        let Some(i) = self.find(name) else {
            return Self::not_found(name);
        };
        if self.orders[i]["modified"] != doc["modified"] {
            return error(
                417,
                "TimestampMismatchError",
                "Error: Document has been modified after you have opened it. Please refresh to get the latest document.",
            );
        }
        if self.orders[i]["docstatus"] != 0 {
            return error(417, "ValidationError", "Cannot edit cancelled document");
        }
        let now = self.now();
        let o = &mut self.orders[i];
        o["docstatus"] = json!(1);
        set_status(o);
        o["modified"] = json!(now);
        SandboxReply::json(200, &json!({ "message": o }))
    }

    fn cancel(&mut self, body: &Value) -> SandboxReply {
        if body["doctype"] != "Sales Order" {
            return error(404, "DoesNotExistError", "DocType not found");
        }
        let name = body["name"].as_str().unwrap_or("");
        let Some(i) = self.find(name) else {
            return Self::not_found(name);
        };
        if self.orders[i]["docstatus"] != 1 {
            return error(
                417,
                "ValidationError",
                "Cannot cancel before submitting. See Transition 0 - 2",
            );
        }
        if let Some(inv) = self
            .invoices
            .iter()
            .find(|v| v["docstatus"] == 1 && bills(v, name))
        {
            return error(
                417,
                "LinkExistsError",
                &format!(
                    "Cannot delete or cancel because Sales Order {name} is linked with Sales Invoice {}",
                    inv["name"].as_str().unwrap_or("")
                ),
            );
        }
        let now = self.now();
        let o = &mut self.orders[i];
        o["docstatus"] = json!(2);
        set_status(o);
        o["modified"] = json!(now);
        SandboxReply::json(200, &json!({ "message": o }))
    }

    /// `make_sales_invoice`: an unsaved invoice of the order's lines not billed yet.
    fn make_invoice(&mut self, body: &Value) -> SandboxReply {
        let name = body["source_name"].as_str().unwrap_or("");
        let Some(i) = self.find(name) else {
            return Self::not_found(name);
        };
        if self.orders[i]["docstatus"] != 1 {
            return error(
                417,
                "ValidationError",
                "Cannot map because following condition fails: docstatus=1",
            );
        }
        let today = self.now()[..10].to_string();
        let o = &self.orders[i];
        let mut total = Decimal::ZERO;
        let mut items = Vec::new();
        for line in o["items"].as_array().into_iter().flatten() {
            if line.get("billed_amt").and_then(dec).unwrap_or_default() > Decimal::ZERO {
                continue;
            }
            total += dec(&line["amount"]).unwrap_or_default();
            items.push(json!({
                "doctype": "Sales Invoice Item", "item_code": line["item_code"],
                "item_name": line["item_name"], "qty": line["qty"], "uom": line["uom"],
                "rate": line["rate"], "amount": line["amount"],
                "sales_order": name, "so_detail": line["name"], "__islocal": 1,
            }));
        }
        let doc = json!({
            "doctype": "Sales Invoice", "docstatus": 0, "naming_series": "ACC-SINV-.YYYY.-",
            "customer": o["customer"], "customer_name": o["customer_name"], "company": o["company"],
            "posting_date": today, "due_date": today, "currency": o["currency"],
            "conversion_rate": o["conversion_rate"], "po_no": o["po_no"],
            "net_total": float(total), "total_taxes_and_charges": 0.0, "grand_total": float(total),
            "outstanding_amount": float(total), "status": "Draft", "items": items,
            "__islocal": 1, "__unsaved": 1,
        });
        SandboxReply::json(200, &json!({ "message": doc }))
    }

    /// `POST /api/resource/Sales Invoice`: stores the invoice; submitted, it bills the order lines
    /// it names (`sales_order`, `so_detail`).
    fn insert_invoice(&mut self, body: &Value) -> SandboxReply {
        let Some(obj) = body.as_object() else {
            return error(500, "TypeError", "'NoneType' object is not iterable");
        };
        if obj
            .get("customer")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return error(417, "MandatoryError", "[Sales Invoice, new]: customer");
        }
        let items = obj
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if items.is_empty() {
            return error(417, "MandatoryError", "[Sales Invoice, new]: items");
        }
        let docstatus = obj.get("docstatus").and_then(Value::as_u64).unwrap_or(0);
        if docstatus > 1 {
            return error(417, "ValidationError", "A new document cannot be cancelled");
        }
        let mut billed = Vec::new();
        for (n, item) in items.iter().enumerate() {
            let Some(order) = item.get("sales_order").and_then(Value::as_str) else {
                continue;
            };
            let Some(i) = self.find(order) else {
                return error(
                    417,
                    "LinkValidationError",
                    &format!("Could not find Row #{}: Sales Order: {order}", n + 1),
                );
            };
            let lines = self.orders[i]["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let Some(l) = lines.iter().position(|l| l["name"] == item["so_detail"]) else {
                continue;
            };
            let amount = item.get("amount").and_then(dec).unwrap_or_default();
            let already = lines[l].get("billed_amt").and_then(dec).unwrap_or_default();
            let over = already + amount - dec(&lines[l]["amount"]).unwrap_or_default();
            if over > Decimal::ZERO {
                return error(
                    417,
                    "OverAllowanceError",
                    &format!(
                        "This document is over limit by <strong>Amount</strong> {over} for item <strong>{}</strong>. Are you making another Sales Invoice against the same Sales Order Item?",
                        item["item_code"].as_str().unwrap_or("")
                    ),
                );
            }
            billed.push((i, l, already + amount));
        }
        let now = self.now();
        let name = format!("ACC-SINV-2026-{:05}", self.invoices.len() + 1);
        let mut doc = obj.clone();
        doc.remove("__islocal");
        doc.remove("__unsaved");
        let lines: Vec<Value> = items
            .iter()
            .enumerate()
            .map(|(n, item)| {
                let mut line = item.as_object().cloned().unwrap_or_default();
                line.remove("__islocal");
                line.insert("name".into(), json!(format!("{name}-{}", n + 1)));
                line.insert("parent".into(), json!(name));
                line.insert("docstatus".into(), json!(docstatus));
                Value::Object(line)
            })
            .collect();
        let extra = json!({
            "name": name, "doctype": "Sales Invoice", "docstatus": docstatus, "items": lines,
            "posting_date": doc.get("posting_date").cloned().unwrap_or(json!(&now[..10])),
            "status": doc.get("status").cloned().unwrap_or(json!("Draft")),
            "creation": now, "modified": now,
        });
        if let Value::Object(e) = extra {
            doc.extend(e);
        }
        let doc = Value::Object(doc);
        if docstatus == 1 {
            for (i, l, amount) in billed {
                let o = &mut self.orders[i];
                o["items"][l]["billed_amt"] = float(amount);
                set_billing(o);
                o["modified"] = json!(now);
            }
        }
        self.invoices.push(doc.clone());
        SandboxReply::json(200, &json!({ "data": doc }))
    }

    /// `get_payment_entry`: an unsaved Payment Entry for the order's outstanding amount; an order
    /// already fully billed is refused, as ERPNext does (its invoice is what is paid then).
    fn payment_entry(&mut self, body: &Value) -> SandboxReply {
        if body["dt"] != "Sales Order" {
            return error(
                404,
                "DoesNotExistError",
                &format!("DocType {} not found", body["dt"].as_str().unwrap_or("")),
            );
        }
        let name = body["dn"].as_str().unwrap_or("");
        let Some(i) = self.find(name) else {
            return Self::not_found(name);
        };
        let today = self.now()[..10].to_string();
        let o = &self.orders[i];
        if o.get("per_billed").and_then(dec).unwrap_or_default() >= Decimal::from(100) {
            return error(
                417,
                "ValidationError",
                "Can only make payment against unbilled Sales Order",
            );
        }
        let total = dec(&o["grand_total"]).unwrap_or_default();
        let outstanding = total - o.get("advance_paid").and_then(dec).unwrap_or_default();
        let doc = json!({
            "doctype": "Payment Entry", "docstatus": 0, "naming_series": "ACC-PAY-.YYYY.-",
            "payment_type": "Receive", "posting_date": today, "company": o["company"],
            "party_type": "Customer", "party": o["customer"], "party_name": o["customer_name"],
            "paid_from": "Debtors", "paid_from_account_currency": o["currency"],
            "paid_to": "Cash", "paid_to_account_currency": o["currency"],
            "paid_amount": float(outstanding), "received_amount": float(outstanding),
            "source_exchange_rate": 1.0, "target_exchange_rate": 1.0,
            "total_allocated_amount": float(outstanding), "unallocated_amount": 0.0,
            "reference_date": today, "status": "Draft",
            "references": [{
                "doctype": "Payment Entry Reference", "reference_doctype": "Sales Order",
                "reference_name": name, "total_amount": float(total),
                "outstanding_amount": float(outstanding), "allocated_amount": float(outstanding),
                "__islocal": 1,
            }],
            "__islocal": 1, "__unsaved": 1,
        });
        SandboxReply::json(200, &json!({ "message": doc }))
    }

    /// `POST /api/resource/Payment Entry`: stores the entry; submitted, it raises the
    /// `advance_paid` of the orders it is allocated to.
    fn insert_payment(&mut self, body: &Value) -> SandboxReply {
        let Some(obj) = body.as_object() else {
            return error(500, "TypeError", "'NoneType' object is not iterable");
        };
        for field in ["payment_type", "party_type", "party"] {
            if obj
                .get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return error(
                    417,
                    "MandatoryError",
                    &format!("[Payment Entry, new]: {field}"),
                );
            }
        }
        let Some(paid) = obj
            .get("paid_amount")
            .and_then(dec)
            .filter(|p| *p > Decimal::ZERO)
        else {
            return error(417, "MandatoryError", "[Payment Entry, new]: paid_amount");
        };
        if let Some(mode) = obj.get("mode_of_payment").and_then(Value::as_str)
            && !MODES.contains(&mode)
        {
            return error(
                417,
                "LinkValidationError",
                &format!("Could not find Mode of Payment: {mode}"),
            );
        }
        let docstatus = obj.get("docstatus").and_then(Value::as_u64).unwrap_or(0);
        if docstatus > 1 {
            return error(417, "ValidationError", "A new document cannot be cancelled");
        }
        let now = self.now();
        let name = format!("ACC-PAY-2026-{:05}", self.payments.len() + 1);
        let mut allocated_total = Decimal::ZERO;
        let mut paid_orders = Vec::new();
        let mut references = Vec::new();
        let refs = obj.get("references").and_then(Value::as_array);
        for (n, r) in refs.into_iter().flatten().enumerate() {
            let allocated = r.get("allocated_amount").and_then(dec).unwrap_or_default();
            allocated_total += allocated;
            let mut row = r.as_object().cloned().unwrap_or_default();
            row.remove("__islocal");
            row.insert("name".into(), json!(format!("{name}-{}", n + 1)));
            row.insert("parent".into(), json!(name));
            row.insert("docstatus".into(), json!(docstatus));
            if r["reference_doctype"] == "Sales Order" {
                let order = r["reference_name"].as_str().unwrap_or("");
                let Some(i) = self.find(order) else {
                    return error(
                        417,
                        "LinkValidationError",
                        &format!("Could not find Row #{}: Reference Name: {order}", n + 1),
                    );
                };
                let o = &self.orders[i];
                if o["docstatus"] != 1 {
                    return error(
                        417,
                        "ValidationError",
                        &format!("Sales Order {order} must be submitted"),
                    );
                }
                let outstanding = dec(&o["grand_total"]).unwrap_or_default()
                    - o.get("advance_paid").and_then(dec).unwrap_or_default();
                if allocated > outstanding {
                    return error(
                        417,
                        "ValidationError",
                        &format!(
                            "Row #{}: Allocated Amount cannot be greater than outstanding amount.",
                            n + 1
                        ),
                    );
                }
                if docstatus == 1 {
                    row.insert("outstanding_amount".into(), float(outstanding - allocated));
                    paid_orders.push((i, allocated));
                }
            }
            references.push(Value::Object(row));
        }
        let mut doc = obj.clone();
        doc.remove("__islocal");
        doc.remove("__unsaved");
        let extra = json!({
            "name": name, "doctype": "Payment Entry", "docstatus": docstatus,
            "status": if docstatus == 1 { "Submitted" } else { "Draft" },
            "total_allocated_amount": float(allocated_total),
            "unallocated_amount": float(paid - allocated_total),
            "references": references, "creation": now, "modified": now,
        });
        if let Value::Object(e) = extra {
            doc.extend(e);
        }
        let doc = Value::Object(doc);
        for (i, allocated) in paid_orders {
            let o = &mut self.orders[i];
            let before = o.get("advance_paid").and_then(dec).unwrap_or_default();
            o["advance_paid"] = float(before + allocated);
            o["modified"] = json!(now);
        }
        self.payments.push(doc.clone());
        SandboxReply::json(200, &json!({ "data": doc }))
    }
}

/// Whether an invoice has a line billing the order `name`.
fn bills(invoice: &Value, name: &str) -> bool {
    invoice["items"]
        .as_array()
        .is_some_and(|lines| lines.iter().any(|l| l["sales_order"] == name))
}

/// The order's `per_billed` and `billing_status` from its lines' `billed_amt`.
fn set_billing(doc: &mut Value) {
    let lines = doc["items"].as_array().cloned().unwrap_or_default();
    let sum =
        |key: &str| -> Decimal { lines.iter().filter_map(|l| l.get(key).and_then(dec)).sum() };
    let (billed, total) = (sum("billed_amt"), sum("amount"));
    let per = if total.is_zero() {
        Decimal::ZERO
    } else {
        (billed * Decimal::from(100) / total).round_dp(2)
    };
    doc["per_billed"] = float(per);
    doc["billing_status"] = json!(if per >= Decimal::from(100) {
        "Fully Billed"
    } else if per > Decimal::ZERO {
        "Partly Billed"
    } else {
        "Not Billed"
    });
    set_status(doc);
}

fn set_status(doc: &mut Value) {
    let billed = doc["billing_status"] == "Fully Billed";
    doc["status"] = json!(match doc["docstatus"].as_u64() {
        Some(1) if billed => "To Deliver",
        Some(1) => "To Deliver and Bill",
        Some(2) => "Cancelled",
        _ => "Draft",
    });
}

/// One Frappe filter `[field, op, value]` (or `[doctype, field, op, value]`).
fn matches(doc: &Value, filter: &Value) -> bool {
    let f = filter.as_array().map(Vec::as_slice).unwrap_or_default();
    let (field, op, value) = match f {
        [field, op, value] => (field, op, value),
        [_, field, op, value] => (field, op, value),
        _ => return false,
    };
    let actual = &doc[field.as_str().unwrap_or("")];
    let cmp = || match (actual, value) {
        (Value::String(a), Value::String(b)) => Some(a.as_str().cmp(b.as_str())),
        _ => Some(dec(actual)?.cmp(&dec(value)?)),
    };
    match op.as_str().unwrap_or("") {
        "=" => actual == value || cmp() == Some(std::cmp::Ordering::Equal),
        "!=" => actual != value,
        "in" => value.as_array().is_some_and(|a| a.contains(actual)),
        ">" => cmp().is_some_and(|o| o.is_gt()),
        ">=" => cmp().is_some_and(|o| o.is_ge()),
        "<" => cmp().is_some_and(|o| o.is_lt()),
        "<=" => cmp().is_some_and(|o| o.is_le()),
        _ => false,
    }
}

impl Vendor for Dokos {
    fn handle(&mut self, req: &SandboxRequest) -> SandboxReply {
        let auth = format!("token {SANDBOX_KEY}:{SANDBOX_SECRET}");
        match req.header("authorization") {
            None => {
                return error(
                    403,
                    "PermissionError",
                    "User <strong>Guest</strong> does not have doctype access via role permission for document <strong>Sales Order</strong>",
                );
            }
            Some(a) if a != auth => {
                return SandboxReply::json(
                    401,
                    &json!({"exception": "frappe.exceptions.AuthenticationError", "exc_type": "AuthenticationError"}),
                );
            }
            Some(_) => {}
        }
        if !req
            .header("accept")
            .is_some_and(|a| a.contains("application/json"))
        {
            return SandboxReply::text(
                200,
                "text/html; charset=utf-8",
                "<!DOCTYPE html><html><body>Send Accept: application/json</body></html>",
            );
        }
        let writes_json = matches!(req.method, Method::POST | Method::PUT);
        if writes_json && req.content_type() != "application/json" {
            return error(
                500,
                "JSONDecodeError",
                "Expecting value: line 1 column 1 (char 0)",
            );
        }
        let body = if writes_json {
            match req.json() {
                Some(b) => b,
                None => {
                    return error(
                        500,
                        "JSONDecodeError",
                        "Expecting value: line 1 column 1 (char 0)",
                    );
                }
            }
        } else {
            Value::Null
        };
        let path = req.path.as_str();
        match (&req.method, path) {
            (&Method::POST, RESOURCE) => self.create(&body),
            (&Method::GET, RESOURCE) => self.list(req),
            (&Method::POST, "/api/method/frappe.client.submit") => self.submit(&body),
            (&Method::POST, "/api/method/frappe.client.cancel") => self.cancel(&body),
            (&Method::POST, MAKE_INVOICE) => self.make_invoice(&body),
            (&Method::POST, INVOICES) => self.insert_invoice(&body),
            (&Method::POST, GET_PAYMENT) => self.payment_entry(&body),
            (&Method::POST, PAYMENTS) => self.insert_payment(&body),
            (m, p) if p.starts_with(RESOURCE) && p[RESOURCE.len()..].starts_with('/') => {
                let raw = &p[RESOURCE.len() + 1..];
                let name = percent_encoding::percent_decode_str(raw)
                    .decode_utf8_lossy()
                    .into_owned();
                let Some(i) = self.find(&name) else {
                    return Self::not_found(&name);
                };
                match *m {
                    Method::GET => SandboxReply::json(200, &json!({ "data": self.orders[i] })),
                    Method::PUT => self.update(i, &body),
                    Method::DELETE => {
                        if self.orders[i]["docstatus"] != 0 {
                            return error(
                                417,
                                "ValidationError",
                                "Submitted or cancelled documents cannot be deleted",
                            );
                        }
                        self.orders.remove(i);
                        SandboxReply::json(202, &json!({ "data": "ok" }))
                    }
                    _ => error(405, "ValidationError", "method not allowed"),
                }
            }
            _ => error(404, "DoesNotExistError", "Page not found"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn req(method: Method, path: &str, body: Value) -> SandboxRequest {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "authorization",
            format!("token {SANDBOX_KEY}:{SANDBOX_SECRET}")
                .parse()
                .expect("h"),
        );
        headers.insert("accept", "application/json".parse().expect("h"));
        headers.insert("content-type", "application/json".parse().expect("h"));
        SandboxRequest {
            method,
            path: path.into(),
            query: Default::default(),
            headers,
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn create_submit_cancel() {
        let mut d = Dokos::default();
        let r = d.handle(&req(
            Method::POST,
            RESOURCE,
            json!({"customer": "C", "items": [{"item_code": "A", "qty": 3, "rate": 0.1}]}),
        ));
        assert_eq!(r.status, 200);
        let doc: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(doc["data"]["grand_total"].to_string(), "0.3");
        let r = d.handle(&req(
            Method::POST,
            "/api/method/frappe.client.submit",
            json!({"doc": doc["data"]}),
        ));
        assert_eq!(r.status, 200);
        let r = d.handle(&req(
            Method::POST,
            "/api/method/frappe.client.submit",
            json!({"doc": doc["data"]}),
        ));
        assert_eq!(r.status, 417, "a stale copy is refused");
        let r = d.handle(&req(
            Method::POST,
            "/api/method/frappe.client.cancel",
            json!({"doctype": "Sales Order", "name": "SAL-ORD-2026-00001"}),
        ));
        assert_eq!(r.status, 200);
        let r = d.handle(&req(
            Method::POST,
            RESOURCE,
            json!({"items": [{"item_code": "A", "qty": 1}]}),
        ));
        assert_eq!(r.status, 417);
    }

    #[test]
    fn invoice_then_payment() {
        let mut d = Dokos::default();
        let body = |r: &SandboxReply| -> Value { serde_json::from_slice(&r.body).expect("json") };
        let r = d.handle(&req(
            Method::POST,
            RESOURCE,
            json!({"customer": "C", "docstatus": 1, "items": [{"item_code": "A", "qty": 2, "rate": 12.5}]}),
        ));
        let so = body(&r)["data"]["name"].as_str().expect("name").to_string();
        let r = d.handle(&req(
            Method::POST,
            GET_PAYMENT,
            json!({"dt": "Sales Order", "dn": so}),
        ));
        assert_eq!(r.status, 200);
        let mut entry = body(&r)["message"].clone();
        entry["docstatus"] = json!(1);
        entry["paid_amount"] = json!(10);
        entry["received_amount"] = json!(10);
        entry["references"][0]["allocated_amount"] = json!(10);
        entry["mode_of_payment"] = json!("Bitcoin");
        let r = d.handle(&req(Method::POST, PAYMENTS, entry.clone()));
        assert_eq!(r.status, 417, "an unknown mode of payment");
        entry["mode_of_payment"] = json!("Wire Transfer");
        let r = d.handle(&req(Method::POST, PAYMENTS, entry));
        assert_eq!(r.status, 200);
        assert_eq!(body(&r)["data"]["status"], "Submitted");
        let i = d.find(&so).expect("order");
        assert_eq!(d.orders[i]["advance_paid"].to_string(), "10.0");

        let r = d.handle(&req(
            Method::POST,
            MAKE_INVOICE,
            json!({"source_name": "SAL-ORD-0000-99999"}),
        ));
        assert_eq!(r.status, 404);
        let r = d.handle(&req(Method::POST, MAKE_INVOICE, json!({"source_name": so})));
        assert_eq!(r.status, 200);
        let mut invoice = body(&r)["message"].clone();
        assert_eq!(invoice["grand_total"].to_string(), "25.0");
        invoice["docstatus"] = json!(1);
        let r = d.handle(&req(Method::POST, INVOICES, invoice.clone()));
        assert_eq!(r.status, 200);
        let i = d.find(&so).expect("order");
        assert_eq!(d.orders[i]["billing_status"], "Fully Billed");
        let r = d.handle(&req(Method::POST, INVOICES, invoice));
        assert_eq!(r.status, 417, "billed twice");
        let r = d.handle(&req(Method::POST, MAKE_INVOICE, json!({"source_name": so})));
        assert_eq!(
            body(&r)["message"]["items"],
            json!([]),
            "nothing left to bill"
        );
        let r = d.handle(&req(
            Method::POST,
            GET_PAYMENT,
            json!({"dt": "Sales Order", "dn": so}),
        ));
        assert_eq!(r.status, 417, "a fully billed order");
        let r = d.handle(&req(
            Method::POST,
            "/api/method/frappe.client.cancel",
            json!({"doctype": "Sales Order", "name": so}),
        ));
        assert_eq!(r.status, 417, "linked with a submitted invoice");
    }
}
