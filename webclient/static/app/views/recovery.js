// The "cancel" link of the email sent when support approves a recovery: #/cancel-recovery?token=…
// It works signed in or not (the token is the proof); signed in as the owner, the security page
// cancels without it.
import { firstError, gql } from "../api.js";
import { busy, h } from "../dom.js";
import { t } from "../i18n.js";
import { card, messageArea } from "./common.js";

const CANCEL = `mutation CancelRecovery($input: CancelTwoFactorRecoveryInput!) {
  cancelTwoFactorRecovery(input: $input) {
    request { id status effectiveAt }
    errors { code field message }
  }
}`;

export function cancelPage(ctx) {
  const token = new URLSearchParams(ctx.query).get("token");
  const message = messageArea();
  const done = h("p", { class: "message success", "data-testid": "recovery-cancelled", hidden: true });
  const button = h("button", { type: "submit", class: "primary", text: t("cancelRecoveryButton") });
  const form = h("form", { class: "stack", "data-testid": "cancel-recovery" }, message, done, h("div", { class: "actions" }, button));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      message.clear();
      try {
        const payload = (await gql(CANCEL, { input: { token } })).cancelTwoFactorRecovery;
        const error = firstError(payload);
        if (error) return message.fail(error);
        done.textContent = t("recoveryCancelled");
        done.hidden = false;
        button.hidden = true;
      } catch (error) {
        message.fail(error);
      }
    });
  });
  return card(t("cancelRecoveryTitle"), h("p", { class: "hint", text: t("cancelRecoveryHint") }), form);
}
