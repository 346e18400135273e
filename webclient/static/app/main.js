// Verrou's reference web client: a hash-routed page on the public API only.
import { gql, onUnauthenticated, session, subscribe } from "./api.js";
import { clearBanners, showBanner } from "./banners.js";
import { h, mount } from "./dom.js";
import { language, setLanguage, t } from "./i18n.js";
import * as account from "./views/account.js";
import * as activity from "./views/activity.js";
import * as recovery from "./views/recovery.js";
import { card, describe } from "./views/common.js";
import * as passwords from "./views/passwords.js";
import * as contacts from "./views/contacts.js";
import * as security from "./views/security.js";
import * as signIn from "./views/signin.js";
import * as support from "./views/support.js";

const VIEWER = `query Viewer { viewer { email role companyName locale unreadNotificationCount } }`;
const LIVE = `subscription Live {
  notifications { id kind level message createdAt account { unreadNotificationCount } }
}`;
const SIGN_OUT = `mutation SignOut { signOut { errors { code message } } }`;
// The account's language: banners, the feed and emails follow it (the client's own texts
// follow the switch at once).
const SET_LOCALE = `mutation SetLocale($input: UpdateAccountInput!) {
  updateAccount(input: $input) { account { locale } errors { code message } }
}`;
// Where the person wanted to go before signing in (a support email's link, for instance).
const NEXT_KEY = "verrou.next";

const routes = [
  { path: /^#\/signin$/, page: signIn.signInPage, public: true, title: "signInTitle" },
  { path: /^#\/signin\/code$/, page: signIn.codePage, public: true, title: "secondFactorTitle" },
  { path: /^#\/signin\/lost-device$/, page: signIn.recoveryPage, public: true, title: "recoveryTitle" },
  { path: /^#\/signin\/recovery-sent$/, page: signIn.recoverySentPage, public: true, title: "recoverySentTitle" },
  { path: /^#\/signup$/, page: account.signUpPage, public: true, title: "signUpTitle" },
  { path: /^#\/signin\/forgot$/, page: passwords.forgotPage, public: true, title: "forgotTitle" },
  // Links from emails: open signed in or not (`open`), the token in the query.
  { path: /^#\/reset-password$/, page: passwords.resetPage, public: true, open: true, title: "resetTitle" },
  { path: /^#\/secure-account$/, page: passwords.securePage, public: true, open: true, title: "secureTitle" },
    { path: /^#\/verify-billing-contact$/, page: contacts.verifyBillingContactPage, public: true, open: true, title: "verifyBillingContactTitle" },
  { path: /^#\/security$/, page: security.page, title: "securityTitle" },
  { path: /^#\/activity$/, page: activity.page, title: "activityTitle" },
  { path: /^#\/account$/, page: account.settingsPage, title: "accountTitle" },
  { path: /^#\/support\/recovery-requests$/, page: support.queuePage, support: true, title: "queueTitle" },
  { path: /^#\/support\/recovery-requests\/(\d+)$/, page: support.requestPage, support: true, title: "queueTitle" },
  // An emailed link: opened signed in or not (`any`).
  { path: /^#\/cancel-recovery$/, page: recovery.cancelPage, public: true, open: true, title: "cancelRecoveryTitle" },
];

const app = document.getElementById("app");
let viewer = null;
let stopLive = null;
let notificationHandler = null;
let rendering = 0;

const ctx = {
  query: "",
  go(hash) {
    if (window.location.hash === hash) render();
    else window.location.hash = hash;
    return null;
  },
  signedIn(token) {
    session.open(token);
    const next = window.sessionStorage.getItem(NEXT_KEY);
    window.sessionStorage.removeItem(NEXT_KEY);
    ctx.go(next || "#/");
  },
  flash: showBanner,
  onNotification(handler) {
    notificationHandler = handler;
  },
  // A screen showing something once (backup codes) or half-way through a setup says so, and a
  // language switch then leaves it in place instead of drawing it anew.
  keep: null,
  /** The account's language changed (its settings): the client's texts follow. */
  useLanguage(lang) {
    setLanguage(lang);
    if (viewer) viewer.locale = lang.toUpperCase();
    drawLanguages();
    drawNav();
  },
  setUnread(count) {
    if (viewer) viewer.unreadNotificationCount = count;
    drawNav();
  },
};

function home() {
  return viewer && viewer.role === "SUPPORT" ? "#/support/recovery-requests" : "#/security";
}

function startLive() {
  if (stopLive) return;
  stopLive = subscribe(LIVE, ({ notifications: note }) => {
    showBanner(note.message, note.level);
    ctx.setUnread(note.account.unreadNotificationCount);
    if (!notificationHandler) return;
    // A screen redrawing itself may find the session gone (SESSIONS_REVOKED comes before the
    // socket closes): the session's end is shown by onUnauthenticated, the rest is a bug.
    Promise.resolve(notificationHandler(note)).catch((error) => {
      if (error.code !== "UNAUTHENTICATED" && error.code !== "NETWORK") console.error(error);
    });
  });
}

function signedOut() {
  viewer = null;
  if (stopLive) stopLive();
  stopLive = null;
}

// Signing out: the server closes the live socket with 4403 as the session ends, which is no
// session ended by someone else. (Closing the socket first could cut it mid-handshake.)
let signingOut = false;

async function signOut() {
  signingOut = true;
  try {
    await gql(SIGN_OUT);
  } finally {
    signingOut = false;
    session.close();
    signedOut();
    clearBanners();
    ctx.go("#/signin");
  }
}

function drawNav() {
  const nav = document.getElementById("nav");
  if (!viewer) return mount(nav);
  const current = window.location.hash;
  const link = (href, label, extra) =>
    h("a", { href, class: current.startsWith(href) ? "active" : null }, label, extra);
  const unread = viewer.unreadNotificationCount;
  mount(
    nav,
    link("#/security", t("navSecurity")),
    link("#/activity", t("navActivity"), unread ? h("span", { class: "count", "data-testid": "unread", text: String(unread) }) : null),
    link("#/account", t("navAccount")),
    viewer.role === "SUPPORT" ? link("#/support/recovery-requests", t("navSupport")) : null,
    h("span", { class: "who", text: viewer.email }),
    h("button", { type: "button", class: "link", "data-testid": "sign-out", text: t("signOut"), onclick: signOut }),
  );
}

function drawLanguages() {
  mount(
    document.getElementById("lang"),
    ["fr", "en"].map((lang) =>
      h("button", {
        type: "button",
        class: lang === language() ? "link active" : "link",
        lang,
        "aria-pressed": String(lang === language()),
        text: lang.toUpperCase(),
        onclick: async () => {
          setLanguage(lang);
          drawLanguages();
          if (viewer && viewer.locale !== lang.toUpperCase()) {
            try {
              const payload = (await gql(SET_LOCALE, { input: { locale: lang.toUpperCase() } })).updateAccount;
              if (payload.account && viewer) viewer.locale = payload.account.locale;
            } catch {
              // The client's texts switched anyway; a session that ended says so by itself.
            }
          }
          if (ctx.keep && ctx.keep()) drawNav();
          else render();
        },
      }),
    ),
  );
  document.documentElement.lang = language();
}

async function render() {
  const turn = ++rendering;
  const [path, query = ""] = (window.location.hash || "#/").split("?");
  ctx.query = query;
  notificationHandler = null;
  ctx.keep = null;
  const route = routes.find((candidate) => candidate.path.test(path));
  try {
    if (session.token && !viewer) viewer = (await gql(VIEWER)).viewer;
    if (turn !== rendering) return;
    if (!session.token) {
      signedOut();
      if (!route || !route.public) {
        if (route) window.sessionStorage.setItem(NEXT_KEY, window.location.hash);
        return ctx.go("#/signin");
      }
    } else {
      startLive();
      if (!route || (route.public && !route.open)) return ctx.go(home());
      if (route.support && viewer.role !== "SUPPORT") return ctx.go(home());
    }
    drawNav();
    document.title = `${t(route.title)} · Verrou`;
    const [, ...params] = path.match(route.path);
    const content = await route.page(ctx, ...params);
    if (turn !== rendering || !content) return;
    mount(app, content);
    focusHeading();
  } catch (error) {
    if (turn !== rendering) return;
    if (error.code === "UNAUTHENTICATED") return;
    mount(app, card(t("unexpectedError"), h("p", { class: "message error", text: describe(error) })));
  }
}

/** A new screen: focus goes to its heading, so a screen reader starts there. */
function focusHeading() {
  const heading = app.querySelector("h1, h2");
  if (!heading) return app.focus({ preventScroll: true });
  heading.setAttribute("tabindex", "-1");
  heading.focus({ preventScroll: true });
}

// The server ended the session (an error, `viewer: null`, or the live socket closed with 4403):
// back to the sign-in form, saying why, and back to the same page once signed in again.
onUnauthenticated(() => {
  if (signingOut) return;
  signedOut();
  drawNav();
  const [path] = (window.location.hash || "#/").split("?");
  const route = routes.find((candidate) => candidate.path.test(path));
  // A page that works signed out (an emailed link such as "this wasn't me", which itself ends
  // every session) stays where it is.
  if (route && route.public) return;
  if (route) window.sessionStorage.setItem(NEXT_KEY, window.location.hash);
  showBanner(t("sessionEnded"), "warning");
  ctx.go("#/signin");
});
window.addEventListener("hashchange", render);
drawLanguages();
render();
