// The header's links fold behind a Menu button on narrow screens (style.css shows the button
// only there, and only once this script has marked the page): without the script every link
// stays in view, as on a wide screen.
document.documentElement.classList.add("has-menu");
document.addEventListener("DOMContentLoaded", () => {
  const button = document.querySelector(".menu-toggle");
  if (!button) return;
  button.addEventListener("click", () => {
    const open = document.body.classList.toggle("menu-open");
    button.setAttribute("aria-expanded", String(open));
  });
});
