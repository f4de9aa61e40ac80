import { mount } from "svelte";
import "./app.css";
import App from "./App.svelte";
import { startRouter } from "./lib/router.svelte";
import { restore } from "./lib/session.svelte";

startRouter();
void restore();
mount(App, { target: document.getElementById("app") as HTMLElement });
