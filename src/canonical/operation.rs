//! The canonical operations of the contract.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    CreateOrder,
    GetOrder,
    GetOrderByRef,
    ListOrders,
    UpdateOrder,
    ConfirmOrder,
    CancelOrder,
    DeleteOrder,
    /// Extension: make an invoice from an order.
    CreateInvoice,
    /// Extension: record a payment against an order.
    RecordPayment,
}

impl Operation {
    pub const ALL: [Operation; 10] = [
        Operation::CreateOrder,
        Operation::GetOrder,
        Operation::GetOrderByRef,
        Operation::ListOrders,
        Operation::UpdateOrder,
        Operation::ConfirmOrder,
        Operation::CancelOrder,
        Operation::DeleteOrder,
        Operation::CreateInvoice,
        Operation::RecordPayment,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::CreateOrder => "create_order",
            Operation::GetOrder => "get_order",
            Operation::GetOrderByRef => "get_order_by_ref",
            Operation::ListOrders => "list_orders",
            Operation::UpdateOrder => "update_order",
            Operation::ConfirmOrder => "confirm_order",
            Operation::CancelOrder => "cancel_order",
            Operation::DeleteOrder => "delete_order",
            Operation::CreateInvoice => "create_invoice",
            Operation::RecordPayment => "record_payment",
        }
    }

    pub fn parse(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.name() == name)
    }

    /// What the operation answers on success.
    pub fn success_status(self) -> u16 {
        match self {
            Operation::CreateOrder | Operation::CreateInvoice | Operation::RecordPayment => 201,
            Operation::DeleteOrder => 204,
            _ => 200,
        }
    }

    /// Whether the operation takes a canonical JSON body.
    pub fn takes_body(self) -> bool {
        matches!(
            self,
            Operation::CreateOrder | Operation::UpdateOrder | Operation::RecordPayment
        )
    }

    /// Whether the operation changes the ERP's state.
    pub fn is_write(self) -> bool {
        !matches!(
            self,
            Operation::GetOrder | Operation::GetOrderByRef | Operation::ListOrders
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
