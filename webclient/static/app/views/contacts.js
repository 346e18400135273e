// The billing contact's verification link (#/verify-billing-contact?token=…): the contact
// may be another person than the account holder, so it works signed in or out.
import { firstError, gql } from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";
import { card, describe, messageArea } from "./common.js";

const VERIFY_BILLING_CONTACT = `mutation VerifyBillingContact($input: VerifyBillingContactInput!) {
  verifyBillingContact(input: $input) { errors { code field message } }
}`;

// The answer, kept for a redraw (a language switch) once the token left the address bar.
let outcome = null;

export async function verifyBillingContactPage() {
  const token = new URLSearchParams(window.location.hash.split("?")[1] || "").get("token");
  if (token) {
    // The link is single-use: take it out of the address bar and the history.
    window.history.replaceState(null, "", "#/verify-billing-contact");
    try {
      const payload = (await gql(VERIFY_BILLING_CONTACT, { input: { token } })).verifyBillingContact;
      const error = firstError(payload);
      outcome = error ? { error } : { ok: true };
    } catch (error) {
      outcome = { error };
    }
  }
  const message = messageArea();
  message.setAttribute("data-testid", "verify-billing-contact");
  if (outcome && outcome.ok) message.show(t("billingContactVerified"), "success");
  else message.show(outcome ? describe(outcome.error) : t("billingContactNoToken"));
  return card(t("verifyBillingContactTitle"), message);
}
