// Starts Swagger UI on /docs. It is a file of its own, not an inline <script>, so that the
// page's Content-Security-Policy can allow scripts from 'self' only. The URLs are relative to
// the page, so the docs keep working when a proxy serves the gateway under a path prefix.
"use strict";

window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  displayRequestDuration: true,
  showExtensions: true,
  showCommonExtensions: true,
  // A token typed into Authorize stays in this tab's memory, never in localStorage.
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
