// The banners at the top of the page: blue for SUCCESS and INFO (what the live notifications
// of a security change look like), amber for WARNING. Each stays until closed.
import { h } from "./dom.js";
import { t } from "./i18n.js";

const KEEP = 4;
const area = () => document.getElementById("banners");

export function showBanner(text, level = "info") {
  const banner = h(
    "div",
    { class: `banner banner-${level.toLowerCase()}`, role: "status", "data-testid": "banner" },
    h("span", { class: "banner-text", text }),
    h("button", {
      type: "button",
      class: "banner-close",
      "aria-label": t("close"),
      text: "×",
      onclick: () => banner.remove(),
    }),
  );
  area().prepend(banner);
  [...area().children].slice(KEEP).forEach((old) => old.remove());
}

export function clearBanners() {
  area().replaceChildren();
}
