import type { EventPayload } from "../events/catalog.ts";
import type { Email } from "./transport.ts";

const money = (amount: number) => amount.toFixed(2);

const REJECTION: Record<EventPayload<"order.rejected">["reason"], string> = {
  insufficient_stock: "some items are out of stock",
  unknown_product: "it lists a product we do not sell",
};

export const orderConfirmed = (p: EventPayload<"order.confirmed">): Email => ({
  recipient: p.customerEmail,
  subject: `Order ${p.orderNumber} confirmed`,
  body: `Your order ${p.orderNumber} is confirmed. Total: ${money(p.totalAmount)}.`,
});

export const orderRejected = (p: EventPayload<"order.rejected">): Email => ({
  recipient: p.customerEmail,
  subject: `Order ${p.orderNumber} could not be accepted`,
  body: `We could not accept your order ${p.orderNumber}: ${REJECTION[p.reason]}. You have not been charged.`,
});

export const cancellationReceived = (order: { orderNumber: string; customerEmail: string }, reason: string): Email => ({
  recipient: order.customerEmail,
  subject: `Cancellation of order ${order.orderNumber}`,
  body: `We received your request to cancel order ${order.orderNumber} (${reason}). Anything you paid will be refunded.`,
});

export const paymentProcessed = (order: { orderNumber: string; customerEmail: string }, p: EventPayload<"payment.processed">): Email => ({
  recipient: order.customerEmail,
  subject: p.status === "succeeded" ? `Payment received for order ${order.orderNumber}` : `Payment failed for order ${order.orderNumber}`,
  body: p.status === "succeeded"
    ? `We received your payment of ${money(p.amount)} for order ${order.orderNumber}.`
    : `Your payment of ${money(p.amount)} for order ${order.orderNumber} did not go through.`,
});

export const welcome = (p: EventPayload<"user.created">): Email => ({
  recipient: p.email,
  subject: "Welcome",
  body: "Your account is ready.",
});
