// Svelte 5 reads TypeScript in <script lang="ts"> itself: no preprocessor needed.
export default {
  compilerOptions: { runes: true },
};
