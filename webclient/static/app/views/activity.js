// The notification feed and the security history of the account, newest first.
import { gql } from "../api.js";
import { h } from "../dom.js";
import { language, t } from "../i18n.js";
import { card, formatDate, messageArea } from "./common.js";

const PAGE = 10;
const NOTIFICATIONS = `query Notifications($first: Int, $after: String) {
  viewer {
    unreadNotificationCount
    notifications(first: $first, after: $after) {
      totalCount
      edges { node { id kind level message createdAt readAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;
const EVENTS = `query Events($first: Int, $after: String) {
  viewer {
    securityEvents(first: $first, after: $after) {
      totalCount
      edges { node { id kind createdAt ipAddress userAgent } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;
const MARK_READ = `mutation MarkRead { markNotificationsRead(input: {}) { unreadNotificationCount errors { code message } } }`;

/** A list of one connection with a "more" button; `row(node)` draws an item. */
function pagedList(query, pick, row, testid) {
  const list = h("ul", { class: "feed", "data-testid": testid });
  const more = h("button", { type: "button", class: "link", text: t("more"), hidden: true });
  const message = messageArea();
  let after = null;
  async function load() {
    try {
      const connection = pick(await gql(query, { first: PAGE, after }));
      if (!after && connection.edges.length === 0) list.append(h("li", { class: "empty", text: t("nothingYet") }));
      connection.edges.forEach(({ node }) => list.append(row(node)));
      after = connection.pageInfo.endCursor;
      more.hidden = !connection.pageInfo.hasNextPage;
    } catch (error) {
      message.fail(error);
    }
  }
  more.addEventListener("click", load);
  return { element: h("div", {}, list, message, more), load };
}

export async function page(ctx) {
  const lang = language();
  const notifications = pagedList(
    NOTIFICATIONS,
    (data) => data.viewer.notifications,
    (node) =>
      h(
        "li",
        { class: `item level-${node.level.toLowerCase()}${node.readAt ? "" : " unread"}`, "data-kind": node.kind },
        h("span", { class: "what", text: node.message }),
        h("time", { datetime: node.createdAt, text: formatDate(node.createdAt, lang) }),
      ),
    "notifications",
  );
  const events = pagedList(
    EVENTS,
    (data) => data.viewer.securityEvents,
    (node) =>
      h(
        "li",
        { class: "item", "data-kind": node.kind },
        h("span", { class: "what", text: t(`event.${node.kind}`) }),
        h("span", { class: "where", text: [node.ipAddress, node.userAgent].filter(Boolean).join(" · ") }),
        h("time", { datetime: node.createdAt, text: formatDate(node.createdAt, lang) }),
      ),
    "security-events",
  );
  const markRead = h("button", {
    type: "button",
    text: t("markAllRead"),
    onclick: async () => {
      markRead.disabled = true;
      try {
        await gql(MARK_READ);
        ctx.setUnread(0);
        notifications.element.querySelectorAll(".unread").forEach((item) => item.classList.remove("unread"));
      } finally {
        markRead.disabled = false;
      }
    },
  });
  await Promise.all([notifications.load(), events.load()]);
  const root = h(
    "div",
    { class: "stack", "data-testid": "activity-page" },
    h("h1", { text: t("activityTitle") }),
    card(t("notificationsTitle"), h("div", { class: "actions" }, markRead), notifications.element),
    card(t("historyTitle"), events.element),
  );
  ctx.onNotification(() => ctx.go("#/activity", { reload: true }));
  return root;
}

