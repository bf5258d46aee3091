// OUTDIR/report.html: one self-contained page (no outside references) with the
// variants table, plots of KLD vs size and generation speed vs size (Pareto
// front and pick marked), the sensitivity of each tensor group when a search
// ran, the machine and the recipe. The plots are drawn by gnuplot (run as a
// subprocess, svg terminal; $KVANT_GNUPLOT names another binary) and inlined.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "optimize/optimize_int.h"

typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

static void putf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void putf(sbuf *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0)
        put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

static void esc(sbuf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': puts_(b, "&lt;"); break;
        case '>': puts_(b, "&gt;"); break;
        case '&': puts_(b, "&amp;"); break;
        case '"': puts_(b, "&quot;"); break;
        default: put(b, s, 1);
        }
    }
}

// Runs gnuplot on script; its svg output (out_svg) is read back, without the
// XML prolog, into *svg. KV_ERR_IO when gnuplot is missing or fails.
static kv_status gnuplot(const char *script, const char *out_svg, char **svg, kv_err *err) {
    *svg = NULL;
    const char *bin = getenv("KVANT_GNUPLOT");
    if (!bin || !*bin)
        bin = "gnuplot";
    pid_t pid = fork();
    if (pid < 0)
        return KV_FAIL(err, KV_ERR_IO, "fork for gnuplot: %s", strerror(errno));
    if (pid == 0) {
        FILE *devnull = freopen("/dev/null", "w", stdout);
        (void)devnull;
        execlp(bin, bin, script, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return KV_FAIL(err, KV_ERR_IO,
                       "gnuplot (%s) failed on %s (exit %d; 127: not installed, see "
                       "tools/install-deps.sh)",
                       bin, script, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    char *text = NULL;
    size_t n = 0;
    kv_status st = kv_read_file(out_svg, (size_t)64 << 20, &text, &n, err);
    if (st != KV_OK)
        return st;
    char *start = strstr(text, "<svg");
    if (!start) {
        free(text);
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: gnuplot wrote no <svg> element", out_svg);
    }
    memmove(text, start, strlen(start) + 1);
    *svg = text;
    return KV_OK;
}

static kv_status write_file(const char *path, const sbuf *b, kv_err *err) {
    if (b->oom)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    return kv__opt_write_text(path, b->p ? b->p : "", b->n, err);
}

// One scatter plot of column ycol (2: KLD, 3: gen t/s) against size.
static kv_status scatter(const kv__opt_run *o, const char *id, int ycol, const char *ylabel,
                         bool logy, char **svg, kv_err *err) {
    const kv_opt_result *r = o->r;
    char data[1200], front[1200], pick[1200], script[1200], out[1200];
    snprintf(data, sizeof data, "%s/plot-%s.dat", o->cache, id);
    snprintf(front, sizeof front, "%s/plot-%s-front.dat", o->cache, id);
    snprintf(pick, sizeof pick, "%s/plot-%s-pick.dat", o->cache, id);
    snprintf(script, sizeof script, "%s/plot-%s.gp", o->cache, id);
    snprintf(out, sizeof out, "%s/plot-%s.svg", o->cache, id);
    sbuf d = {0}, f = {0}, pk = {0}, s = {0};
    // the front in order of size
    int *idx = malloc(sizeof(int) * (size_t)(r->n + 1));
    int nf = 0;
    for (int i = 0; idx && i < r->n; i++)
        if (r->v[i].pareto)
            idx[nf++] = i;
    for (int i = 1; i < nf; i++)
        for (int j = i; j > 0 && r->v[idx[j]].size < r->v[idx[j - 1]].size; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    bool any_zero = false;
    for (int i = 0; i < r->n; i++) {
        const kv_opt_variant *v = &r->v[i];
        double y = ycol == 2 ? v->kld_mean : v->tg_tps;
        any_zero |= y <= 0;
        putf(&d, "%.6f %.9g %s\n", v->size / 1048576.0, y, v->name);
        if (i == r->pick)
            putf(&pk, "%.6f %.9g %s\n", v->size / 1048576.0, y, v->name);
    }
    for (int i = 0; i < nf; i++) {
        const kv_opt_variant *v = &r->v[idx[i]];
        putf(&f, "%.6f %.9g\n", v->size / 1048576.0, ycol == 2 ? v->kld_mean : v->tg_tps);
    }
    free(idx);
    if (!pk.n)
        puts_(&pk, "# no pick\n");
    if (!f.n)
        puts_(&f, "# none\n");
    putf(&s, "set terminal svg size 720,420 dynamic noenhanced font 'sans,11' background rgb 'white'\n"
             "set output '%s'\nset xlabel 'file size (MiB)'\nset ylabel '%s'\nset grid\n"
             "set key outside right top\n%s"
             "plot '%s' using 1:2 with points pt 7 ps 1.2 lc rgb '#777777' title 'variant', \\\n"
             " '%s' using 1:2 with %s pt 7 ps 1.2 lw 2 lc rgb '#cc2222' title "
             "'Pareto front (size, KLD)', \\\n"
             " '%s' using 1:2 with points pt 6 ps 3 lw 2 lc rgb '#1155cc' title 'pick', \\\n"
             " '%s' using 1:2:3 with labels offset 0,1 font ',8' notitle\n",
         out, ylabel, logy && !any_zero ? "set logscale y\n" : "", data, front,
         ycol == 2 ? "linespoints" : "points", pick, data);
    kv_status st = write_file(data, &d, err);
    if (st == KV_OK)
        st = write_file(front, &f, err);
    if (st == KV_OK)
        st = write_file(pick, &pk, err);
    if (st == KV_OK)
        st = write_file(script, &s, err);
    free(d.p);
    free(f.p);
    free(pk.p);
    free(s.p);
    if (st == KV_OK)
        st = gnuplot(script, out, svg, err);
    return st;
}

// Clustered bars: per tensor group, the KLD increase at each lower type.
static kv_status sens_chart(const kv__opt_run *o, char **svg, kv_err *err) {
    const kv_opt_result *r = o->r;
    char data[1200], script[1200], out[1200];
    snprintf(data, sizeof data, "%s/plot-sens.dat", o->cache);
    snprintf(script, sizeof script, "%s/plot-sens.gp", o->cache);
    snprintf(out, sizeof out, "%s/plot-sens.svg", o->cache);
    int n_types = 0;
    while (n_types < r->n_sens && !strcmp(r->sens[n_types].group, r->sens[0].group))
        n_types++;
    sbuf d = {0}, s = {0};
    puts_(&d, "group");
    for (int l = 0; l < n_types; l++)
        putf(&d, " %s", r->sens[l].type);
    puts_(&d, "\n");
    for (int i = 0; i + n_types <= r->n_sens; i += n_types) {
        putf(&d, "%s", r->sens[i].group);
        for (int l = 0; l < n_types; l++)
            putf(&d, " %.9g", r->sens[i + l].dkld > 0 ? r->sens[i + l].dkld : 0);
        puts_(&d, "\n");
    }
    int n_groups = n_types ? r->n_sens / n_types : 0;
    putf(&s, "set terminal svg size %d,460 dynamic noenhanced font 'sans,10' background rgb 'white'\n"
             "set output '%s'\nset style data histograms\nset style histogram clustered gap 1\n"
             "set style fill solid 0.9 border -1\nset xtics rotate by -60 font ',8'\n"
             "set ylabel 'KLD increase (calibration text)'\nset grid ytics\nset key autotitle "
             "columnheader outside right top\nset logscale y\nset yrange [1e-6:*]\n"
             "plot for [i=2:%d] '%s' using i:xtic(1)\n",
         n_groups * 14 + 300 > 4000 ? 4000 : n_groups * 14 + 300, out, n_types + 1, data);
    kv_status st = write_file(data, &d, err);
    if (st == KV_OK)
        st = write_file(script, &s, err);
    free(d.p);
    free(s.p);
    if (st == KV_OK)
        st = gnuplot(script, out, svg, err);
    return st;
}

static void table(const kv__opt_run *o, sbuf *b) {
    const kv_opt_result *r = o->r;
    const kv_opt_goals *g = &o->p->goals;
    bool on[KV_OPT_N_GOALS] = {g->max_size > 0, g->max_ram > 0, g->min_gen_tps > 0,
                               g->min_prompt_tps > 0, g->max_kld >= 0};
    puts_(b, "<table id=\"variants\"><thead><tr><th>variant</th><th>size (MiB)</th><th>bpw</th>"
           "<th>PPL</th><th>KLD mean</th><th>KLD p99</th><th>same top p</th><th>pp t/s</th>"
           "<th>tg t/s</th><th>RAM (MiB)</th>");
    for (int k = 0; k < KV_OPT_N_GOALS; k++)
        if (on[k])
            putf(b, "<th>%s</th>", KV_OPT_GOAL_NAMES[k]);
    puts_(b, "<th>Pareto</th><th></th></tr></thead><tbody>\n");
    for (int i = 0; i < r->n; i++) {
        const kv_opt_variant *v = &r->v[i];
        putf(b, "<tr class=\"%s\" data-name=\"", i == r->pick ? "pick" : v->pareto ? "front" : "");
        esc(b, v->name);
        puts_(b, "\"><td>");
        esc(b, v->name);
        putf(b, "</td><td>%.3f</td><td>%.3f</td><td>%.4f</td><td>%.6f</td><td>%.5f</td>"
                "<td>%.2f%%</td><td>%.1f</td><td>%.1f</td><td>%.2f</td>",
             v->size / 1048576.0, v->bpw, v->ppl, v->kld_mean, v->kld_p99, 100 * v->same_top,
             v->pp_tps, v->tg_tps, v->ram / 1048576.0);
        for (int k = 0; k < KV_OPT_N_GOALS; k++)
            if (on[k])
                putf(b, "<td class=\"%s\">%s</td>", v->meets[k] ? "ok" : "no",
                     v->meets[k] ? "&#10003;" : "&#10007;");
        putf(b, "<td>%s</td><td>%s</td></tr>\n", v->pareto ? "&#9733;" : "",
             i == r->pick ? "<b>pick</b>" : "");
    }
    puts_(b, "</tbody></table>\n");
}

kv_status kv__opt_report_write(const kv__opt_run *o, const char *path, kv_err *err) {
    const kv_opt_result *r = o->r;
    sbuf b = {0};
    char *svg_kld = NULL, *svg_tg = NULL, *svg_sens = NULL;
    kv_status st = scatter(o, "kld", 2, "mean KLD vs base (held-out text)", true, &svg_kld, err);
    if (st == KV_OK)
        st = scatter(o, "tg", 3, "generation (tokens/s)", false, &svg_tg, err);
    if (st == KV_OK && r->n_sens > 0)
        st = sens_chart(o, &svg_sens, err);
    if (st != KV_OK)
        goto done;
    puts_(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>kvant optimize report</title><style>"
            "body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}"
            "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
            "padding:3px 7px;text-align:right}td:first-child{text-align:left}"
            "tr.pick{background:#dde8ff}tr.front td:first-child{font-weight:bold}"
            "td.ok{color:#070}td.no{color:#b00}figure{margin:1em 0}"
            "pre{background:#f4f4f4;padding:1em;overflow:auto}</style></head><body>\n");
    puts_(&b, "<h1>kvant optimize</h1>\n<p>Source <code>");
    esc(&b, o->p->src);
    putf(&b, "</code>: %.2fM parameters; base PPL %.4f on the held-out text. ",
         r->n_params / 1e6, r->base_ppl);
    if (r->pick >= 0) {
        puts_(&b, "Pick: <b id=\"pick\">");
        esc(&b, r->v[r->pick].name);
        puts_(&b, "</b> (written as model.gguf).</p>\n");
    } else {
        puts_(&b, "<b id=\"pick\">No variant meets the goals</b>; closest ");
        esc(&b, r->missed);
        puts_(&b, ".</p>\n");
    }
    puts_(&b, "<h2>Variants</h2>\n");
    table(o, &b);
    puts_(&b, "<h2>Quality vs size</h2><figure id=\"plot-kld\">");
    put(&b, svg_kld, strlen(svg_kld));
    puts_(&b, "</figure>\n<h2>Generation speed vs size</h2><figure id=\"plot-tg\">");
    put(&b, svg_tg, strlen(svg_tg));
    puts_(&b, "</figure>\n");
    if (svg_sens) {
        putf(&b, "<h2>Sensitivity</h2><p>KLD increase on the calibration text when only one "
                 "tensor is lowered from %s (reference KLD %.6f).</p><figure id=\"plot-sens\">",
             r->ref_type, r->ref_kld);
        put(&b, svg_sens, strlen(svg_sens));
        puts_(&b, "</figure>\n");
    }
    puts_(&b, "<h2>Machine</h2><table id=\"machine\">");
    puts_(&b, "<tr><th>CPU</th><td>");
    esc(&b, r->cpu);
    puts_(&b, "</td></tr><tr><th>SIMD kernels</th><td>");
    esc(&b, r->simd);
    putf(&b, "</td></tr><tr><th>threads</th><td>%d</td></tr><tr><th>memory bandwidth</th>"
             "<td>%.1f GB/s</td></tr></table>\n",
         r->n_threads, r->bw_gbs);
    puts_(&b, "<h2>Recipe</h2><pre id=\"recipe\">");
    char *recipe = kv_opt_recipe_print(o->p);
    esc(&b, recipe ? recipe : "");
    free(recipe);
    putf(&b, "</pre>\n<p>%d variants, %d measured in this run, %.1f s.</p></body></html>\n",
         r->n, r->n_measured, r->seconds);
    st = write_file(path, &b, err);
done:
    free(svg_kld);
    free(svg_tg);
    free(svg_sens);
    free(b.p);
    return st;
}
