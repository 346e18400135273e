// SUPPORT accounts: the queue of lost-device recovery requests and the review of one request
// (documents, approve or reject with a note to the customer). The support email links to
// #/support/recovery-requests/<number>.
import { download, firstError, gql } from "../api.js";
import { busy, h, values } from "../dom.js";
import { language, t } from "../i18n.js";
import { card, field, formatDate, messageArea } from "./common.js";

const REQUEST_FIELDS = `id status message createdAt resolvedAt resolutionNote
  account { email companyName billingContactEmail twoFactor { enabled } }
  documents { kind fileName contentType size downloadUrl }`;
const QUEUE = `query Queue($status: RecoveryStatus, $first: Int, $after: String) {
  recoveryRequests(status: $status, first: $first, after: $after) {
    totalCount
    edges { node { id status createdAt account { email companyName } documents { kind } } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const REQUEST = `query Request($id: ID!) { node(id: $id) { ... on RecoveryRequest { ${REQUEST_FIELDS} } } }`;
const RESOLVE = `mutation Resolve($input: ResolveRecoveryRequestInput!) {
  resolveRecoveryRequest(input: $input) {
    request { ${REQUEST_FIELDS} }
    errors { code field message }
  }
}`;

// The emails name a request by its number; the API by its global id, the URL-safe base64 of
// "RecoveryRequest:<number>".
function globalId(number) {
  return window.btoa(`RecoveryRequest:${number}`).replace(/\+/g, "-").replace(/\//g, "_");
}

function requestNumber(id) {
  const text = window.atob(id.replace(/-/g, "+").replace(/_/g, "/"));
  return text.split(":")[1];
}

function statusBadge(status) {
  return h("span", { class: `badge status-${status.toLowerCase()}`, text: t(`recoveryStatus.${status}`) });
}

// The tab the arrow keys moved to, focused once its screen is drawn.
let tabFocus = null;

export async function queuePage(ctx) {
  const filter = new URLSearchParams(ctx.query).get("status") || "PENDING";
  const data = await gql(QUEUE, { status: filter === "ALL" ? null : filter, first: 50 });
  const lang = language();
  // Tabs (WAI-ARIA's pattern): one tab stop, the arrow keys move to the next filter.
  const statuses = ["PENDING", "SCHEDULED", "APPROVED", "REJECTED", "ALL"];
  const tabs = h(
    "div",
    { class: "tabs", role: "tablist", "aria-label": t("queueFilter") },
    statuses.map((status) =>
      h("a", {
        href: `#/support/recovery-requests?status=${status}`,
        id: `tab-${status}`,
        role: "tab",
        class: status === filter ? "tab active" : "tab",
        "aria-selected": String(status === filter),
        "aria-controls": "queue-panel",
        tabindex: status === filter ? "0" : "-1",
        text: status === "ALL" ? t("all") : t(`recoveryStatus.${status}`),
      }),
    ),
  );
  tabs.addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    event.preventDefault();
    const next = statuses[(statuses.indexOf(filter) + step + statuses.length) % statuses.length];
    tabFocus = next;
    ctx.go(`#/support/recovery-requests?status=${next}`);
  });
  // Drawn anew by the arrow keys: the focus stays on the tabs (after the screen's heading took it).
  if (tabFocus === filter) setTimeout(() => tabs.querySelector(`#tab-${filter}`).focus(), 0);
  tabFocus = null;
  const rows = data.recoveryRequests.edges.map(({ node }) => {
    const number = requestNumber(node.id);
    return h(
      "li",
      { class: "item" },
      h("a", { href: `#/support/recovery-requests/${number}`, class: "what" }, `#${number} · ${node.account ? node.account.email : "—"}`),
      node.account && node.account.companyName ? h("span", { class: "where", text: node.account.companyName }) : null,
      statusBadge(node.status),
      h("time", { datetime: node.createdAt, text: formatDate(node.createdAt, lang) }),
    );
  });
  return h(
    "div",
    { class: "stack", "data-testid": "recovery-queue" },
    h("h1", { text: t("queueTitle") }),
    card(
      null,
      tabs,
      h(
        "div",
        { id: "queue-panel", role: "tabpanel", "aria-labelledby": `tab-${filter}` },
        h("p", { class: "hint", text: t("queueCount", { count: data.recoveryRequests.totalCount }) }),
        h("ul", { class: "feed" }, rows.length ? rows : h("li", { class: "empty", text: t("queueEmpty") })),
      ),
    ),
  );
}

function size(bytes, lang) {
  return new Intl.NumberFormat(lang, { style: "unit", unit: "kilobyte", maximumFractionDigits: 1 }).format(bytes / 1000);
}

export async function requestPage(ctx, number) {
  const lang = language();
  const root = h("div", { class: "stack", "data-testid": "recovery-request" });
  let request = (await gql(REQUEST, { id: globalId(number) })).node;
  if (!request) {
    root.append(card(t("requestNotFound"), h("p", {}, h("a", { href: "#/support/recovery-requests", text: t("backToQueue") }))));
    return root;
  }

  function draw() {
    const account = request.account || {};
    const details = h(
      "dl",
      { class: "status" },
      [
        [t("status"), statusBadge(request.status)],
        [t("email"), account.email || "—"],
        [t("company"), account.companyName || "—"],
        [t("billingContact"), account.billingContactEmail || "—"],
        [t("twoFactorNow"), account.twoFactor ? (account.twoFactor.enabled ? t("on") : t("off")) : "—"],
        [t("sentAt"), formatDate(request.createdAt, lang)],
        [t("customerMessage"), request.message || "—"],
        request.resolvedAt ? [t("resolvedAt"), formatDate(request.resolvedAt, lang)] : null,
        request.resolutionNote ? [t("note"), request.resolutionNote] : null,
      ]
        .filter(Boolean)
        .map(([term, value]) => [h("dt", { text: term }), h("dd", {}, value)]),
    );
    const failed = messageArea();
    // The document URL needs the session's bearer token: fetched here, then saved as a file
    // (a link or a new tab would go without the token and get 401).
    const save = (doc, button) => async () => {
      button.disabled = true;
      failed.clear();
      try {
        await download(doc.downloadUrl, doc.fileName);
      } catch (error) {
        if (error.code === "DOWNLOAD_FAILED") failed.show(t("downloadFailed"));
        else failed.fail(error);
      } finally {
        button.disabled = false;
      }
    };
    const documents = h(
      "ul",
      { class: "feed", "data-testid": "documents" },
      request.documents.length
        ? request.documents.map((doc) => {
            const button = h("button", {
              type: "button",
              class: "link what",
              "aria-label": t("downloadDocument", { name: doc.fileName }),
              text: doc.fileName,
            });
            button.addEventListener("click", save(doc, button));
            return h(
              "li",
              { class: "item" },
              button,
              h("span", { class: "where", text: `${t(`document.${doc.kind}`)} · ${doc.contentType} · ${size(doc.size, lang)}` }),
            );
          })
        : h("li", { class: "empty", text: t("noDocuments") }),
    );
    const sections = [
      h("p", {}, h("a", { href: "#/support/recovery-requests", text: `← ${t("backToQueue")}` })),
      h("h1", { text: t("requestTitle", { number }) }),
      card(null, details),
      card(t("documentsTitle"), documents, failed),
    ];
    if (request.status === "PENDING") sections.push(decisionCard());
    root.replaceChildren(...sections);
  }

  function decisionCard() {
    const message = messageArea();
    const form = h(
      "form",
      { class: "stack", "data-testid": "decision" },
      field(t("noteToCustomer"), h("textarea", { name: "note", rows: "3", maxlength: "2000" }), t("noteHint")),
      message,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", class: "danger", name: "decision", value: "APPROVE", text: t("approve") }),
        h("button", { type: "submit", name: "decision", value: "REJECT", text: t("reject") }),
      ),
    );
    // Approving asks a second time (the API needs confirm: true): it turns a customer's 2FA off.
    const confirmation = h(
      "div",
      { class: "stack", "data-testid": "approve-confirm", hidden: true },
      h("p", { class: "message warning", text: t("approveConfirmText") }),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", class: "danger", name: "decision", value: "CONFIRM_APPROVE", text: t("approveConfirm") }),
        h("button", { type: "button", text: t("cancel"), onclick: () => (confirmation.hidden = true) }),
      ),
    );
    form.append(confirmation);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const pressed = event.submitter && event.submitter.value;
      if (pressed === "APPROVE") {
        confirmation.hidden = false;
        return;
      }
      const decision = pressed === "CONFIRM_APPROVE" ? "APPROVE" : pressed;
      busy(form, async () => {
        message.clear();
        try {
          const note = values(form).note.trim() || null;
          const input = { id: request.id, decision, note, confirm: decision === "APPROVE" };
          const payload = (await gql(RESOLVE, { input })).resolveRecoveryRequest;
          const error = firstError(payload);
          if (error) return message.fail(error);
          request = payload.request;
          const flash =
            decision !== "APPROVE" ? "rejectedFlash" : request.status === "SCHEDULED" ? "scheduledFlash" : "approvedFlash";
          ctx.flash(t(flash, { number }), "success");
          draw();
        } catch (error) {
          message.fail(error);
        }
      });
    });
    return card(t("decisionTitle"), h("p", { class: "hint", text: t("approveHint") }), form);
  }

  draw();
  return root;
}
