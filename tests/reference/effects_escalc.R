# Reference values for ipdmeta.effect_sizes(), computed with R's metafor::escalc().
#
# Run from the repository root:
#     Rscript tests/reference/effects_escalc.R
# It writes tests/reference/effects_escalc.json, which tests/test_effects.py reads (the
# Python tests need no R: the input columns of every data set are stored in the JSON).
#
# Requires: metafor (written with 3.8.1), metadat (1.2.0), jsonlite.
#
# Numbers are written with 17 significant digits (sprintf("%.17g")) so every double
# round-trips exactly; NA/NaN is written as null, +-Inf as +-1e999 (read back as +-inf).
#
# Every case records: the data set, our measure name and arguments (the column roles
# events/n/means/sds/time/cor with (treatment, control) pairs, correction, to,
# drop_double_zero, correction_type), metafor's call in words, and yi / vi.
# Measures that metafor does not have (Cohen's d, Glass's delta and metan's approximate
# Hedges' g; Sweeting's opposite-arm and empirical continuity corrections) are computed
# here by hand from the published formulas (Deeks, Altman & Bradburn 2001 as coded in
# Stata's metan; Sweeting, Sutton & Lambert 2004 as coded in metan 4's cc(, opposite
# empirical)), so that the Python code is checked against an independent transcription.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})
source(file.path("tests", "reference", "write_json.R"))

datasets <- list()
cases <- list()

arg_text <- function(args) {
  if (length(args) == 0) return("")
  paste0(", ", names(args), "=", unlist(args), collapse = "")
}
add_case <- function(name, data, measure, roles, y, v, call, options = list()) {
  cases[[length(cases) + 1]] <<- list(
    name = name, data = data, measure = measure, roles = roles, options = options,
    call = call, yi = I(as.numeric(y)), vi = I(as.numeric(v)))
}

# ---------------------------------------------------------------- 2x2 tables
two_by_two <- function(study, ai, n1i, ci, n2i, description) {
  list(description = description, study = study, ai = I(ai), n1i = I(n1i), ci = I(ci),
       n2i = I(n2i))
}

bcg <- dat.bcg
datasets$bcg <- two_by_two(paste(bcg$author, bcg$year), bcg$tpos, bcg$tpos + bcg$tneg,
                           bcg$cpos, bcg$cpos + bcg$cneg,
                           "metadat::dat.bcg: TB cases / vaccinated vs / controls, 13 trials")

col <- dat.collins1985a
reb <- col[!is.na(col$b.xti) & !is.na(col$b.xci), ]
datasets$collins_rebleed <- two_by_two(
  paste(reb$id, reb$trial), reb$b.xti, reb$nti, reb$b.xci, reb$nci,
  "metadat::dat.collins1985a, rebleeding (b.xti/nti vs b.xci/nci), complete rows (zeros)")
dth <- col[!is.na(col$d.xti) & !is.na(col$d.xci), ]
datasets$collins_death <- two_by_two(
  paste(dth$id, dth$trial), dth$d.xti, dth$nti, dth$d.xci, dth$nci,
  "metadat::dat.collins1985a, deaths (d.xti/nti vs d.xci/nci), complete rows (zeros, double zeros)")
nw <- dat.nielweise2007
datasets$nielweise <- two_by_two(
  paste(nw$author, nw$year), nw$ai, nw$n1i, nw$ci, nw$n2i,
  "metadat::dat.nielweise2007, catheter infections (zeros; Yucel 2004 is a double zero)")

binary_roles <- list(events = c("ai", "ci"), n = c("n1i", "n2i"))
variants <- list(
  default = list(args = list(), options = list()),
  all = list(args = list(to = "all"), options = list(to = "all")),
  if0all = list(args = list(to = "if0all"), options = list(to = "if0all")),
  none = list(args = list(to = "none"), options = list(to = "none")),
  drop00 = list(args = list(drop00 = TRUE), options = list(drop_double_zero = TRUE)),
  add025 = list(args = list(add = 0.25), options = list(correction = 0.25)),
  add01_all = list(args = list(add = 0.1, to = "all"),
                   options = list(correction = 0.1, to = "all"))
)
for (dname in c("bcg", "collins_rebleed", "collins_death", "nielweise")) {
  d <- datasets[[dname]]
  for (m in c("OR", "RR", "RD", "PETO")) {
    vs <- if (dname == "bcg") variants["default"] else variants
    for (vname in names(vs)) {
      va <- vs[[vname]]
      es <- do.call(escalc, c(list(measure = m, ai = d$ai, n1i = d$n1i, ci = d$ci,
                                   n2i = d$n2i), va$args))
      add_case(paste(dname, m, vname, sep = "_"), dname, m, binary_roles, es$yi, es$vi,
               paste0("escalc(measure='", m, "', ai, n1i, ci, n2i",
                      arg_text(va$args),
                      ")"),
               va$options)
    }
  }
}

# Sweeting et al. (2004) corrections as metan 4 codes them (by hand): studies with a zero
# cell get cc1 added to both treatment cells and cc0 to both control cells.
#   opposite:  cc1 = 2 cc n1 / N,  cc0 = 2 cc n0 / N
#   empirical: cc1 = 2 cc OR / (R + OR), cc0 = 2 cc R / (R + OR), R = n0 / n1, OR = the
#              Mantel-Haenszel odds ratio of all tables without correction
sweeting <- function(d, type, cc = 0.5, measure = "OR", allifzero = FALSE) {
  a <- d$ai; b <- d$n1i - d$ai; c <- d$ci; dd <- d$n2i - d$ci
  n1 <- d$n1i; n0 <- d$n2i
  zero <- (a * b * c * dd) == 0
  if (type == "opposite") {
    cc1 <- 2 * cc * n1 / (n1 + n0); cc0 <- 2 * cc * n0 / (n1 + n0)
  } else {
    or_mh <- exp(as.numeric(rma.mh(ai = a, bi = b, ci = c, di = dd, measure = "OR",
                                   drop00 = FALSE)$b))
    R <- n0 / n1
    cc1 <- 2 * cc * or_mh / (R + or_mh); cc0 <- 2 * cc * R / (R + or_mh)
  }
  use <- if (allifzero && any(zero)) rep(TRUE, length(a)) else zero
  a <- ifelse(use, a + cc1, a); b <- ifelse(use, b + cc1, b)
  c <- ifelse(use, c + cc0, c); dd <- ifelse(use, dd + cc0, dd)
  es <- escalc(measure = measure, ai = a, bi = b, ci = c, di = dd, to = "none")
  list(yi = es$yi, vi = es$vi)
}
for (dname in c("collins_death", "nielweise")) {
  d <- datasets[[dname]]
  for (type in c("opposite", "empirical")) {
    for (m in if (type == "opposite") c("OR", "RR", "RD") else "OR") {
      r <- sweeting(d, type, measure = m)
      add_case(paste(dname, m, type, sep = "_"), dname, m, binary_roles, r$yi, r$vi,
               paste0("by hand: Sweeting ", type, " correction (metan cc(0.5, ", type,
                      ")), then escalc(measure='", m, "', to='none')"),
               list(correction_type = type))
    }
  }
  r <- sweeting(d, "opposite", cc = 0.25, allifzero = TRUE)
  add_case(paste(dname, "OR_opposite_025_if0all", sep = "_"), dname, "OR", binary_roles,
           r$yi, r$vi, "by hand: metan cc(0.25, opposite allifzero), escalc(OR, to='none')",
           list(correction_type = "opposite", correction = 0.25, to = "if0all"))
}

# ---------------------------------------------------------------- means and SDs
nd <- dat.normand1999
datasets$normand <- list(
  description = "metadat::dat.normand1999, length of stay (days), 9 studies",
  study = as.character(nd$source), n1i = I(nd$n1i), m1i = I(nd$m1i), sd1i = I(nd$sd1i),
  n2i = I(nd$n2i), m2i = I(nd$m2i), sd2i = I(nd$sd2i))
cont_roles <- list(means = c("m1i", "m2i"), sds = c("sd1i", "sd2i"), n = c("n1i", "n2i"))
for (m in c("MD", "SMD", "ROM")) {
  es <- escalc(measure = m, m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
               n2i = n2i, data = nd)
  add_case(paste0("normand_", m), "normand", m, cont_roles, es$yi, es$vi,
           paste0("escalc(measure='", m, "', m1i, sd1i, n1i, m2i, sd2i, n2i)"))
}
# by hand (metan's formulas, Deeks, Altman & Bradburn 2001)
N <- nd$n1i + nd$n2i
s <- sqrt(((nd$n1i - 1) * nd$sd1i^2 + (nd$n2i - 1) * nd$sd2i^2) / (N - 2))
d_c <- (nd$m1i - nd$m2i) / s
add_case("normand_SMD_cohen", "normand", "SMD_cohen", cont_roles, d_c,
         N / (nd$n1i * nd$n2i) + d_c^2 / (2 * (N - 2)),
         "by hand: Cohen's d = (m1-m2)/s_pooled, v = N/(n1 n2) + d^2/(2(N-2)) (metan cohen)")
g_m <- d_c * (1 - 3 / (4 * N - 9))
add_case("normand_SMD_metan", "normand", "SMD_metan", cont_roles, g_m,
         N / (nd$n1i * nd$n2i) + g_m^2 / (2 * (N - 3.94)),
         "by hand: metan hedges g = d (1 - 3/(4N-9)), v = N/(n1 n2) + g^2/(2(N-3.94))")
gl <- (nd$m1i - nd$m2i) / nd$sd2i
add_case("normand_GLASS", "normand", "GLASS", cont_roles, gl,
         N / (nd$n1i * nd$n2i) + gl^2 / (2 * (nd$n2i - 1)),
         "by hand: Glass's delta = (m1-m2)/sd2, v = N/(n1 n2) + delta^2/(2(n2-1)) (metan glass)")

# ---------------------------------------------------------------- correlations
mo <- dat.molloy2014
datasets$molloy <- list(
  description = "metadat::dat.molloy2014, conscientiousness and medication adherence, 16 studies",
  study = paste(mo$authors, mo$year), ri = I(mo$ri), ni = I(mo$ni))
for (m in c("COR", "ZCOR")) {
  es <- escalc(measure = m, ri = ri, ni = ni, data = mo)
  add_case(paste0("molloy_", m), "molloy", m, list(cor = "ri", n = "ni"), es$yi, es$vi,
           paste0("escalc(measure='", m, "', ri, ni)"))
}

# ---------------------------------------------------------------- proportions
pr <- dat.pritz1997
datasets$pritz <- list(
  description = "metadat::dat.pritz1997, intraoperative angiography, 14 studies (x = n in 2)",
  study = as.character(pr$authors), xi = I(pr$xi), ni = I(pr$ni))
prop_roles <- list(events = "xi", n = "ni")
prop_variants <- list(
  default = list(args = list(), options = list()),
  all = list(args = list(to = "all"), options = list(to = "all")),
  if0all = list(args = list(to = "if0all"), options = list(to = "if0all")),
  none = list(args = list(to = "none"), options = list(to = "none")),
  add05 = list(args = list(add = 0.5), options = list(correction = 0.5)))
for (m in c("PR", "PLO", "PAS", "PFT")) {
  for (vname in names(prop_variants)) {
    va <- prop_variants[[vname]]
    es <- do.call(escalc, c(list(measure = m, xi = pr$xi, ni = pr$ni), va$args))
    add_case(paste("pritz", m, vname, sep = "_"), "pritz", m, prop_roles, es$yi, es$vi,
             paste0("escalc(measure='", m, "', xi, ni",
                    arg_text(va$args), ")"),
             va$options)
  }
}
# back-transforms for display
pft <- escalc(measure = "PFT", xi = xi, ni = ni, data = pr)
fit <- rma(yi, vi, data = pft, method = "REML", control = list(threshold = 1e-12))
grid <- c(as.numeric(pft$yi), as.numeric(fit$b), fit$ci.lb, fit$ci.ub, 0, 0.01, 1.5, 1.6)
back <- list(
  pft_z = I(grid),
  pft_hm = I(transf.ipft.hm(grid, targs = list(ni = pr$ni))),
  pft_each = I(transf.ipft(as.numeric(pft$yi), pr$ni)),
  pft_each_n = I(pr$ni),
  harmonic_mean_n = 1 / mean(1 / pr$ni),
  pas_z = I(c(-0.1, 0.3, 1.2, 1.6)),
  pas = I(transf.iarcsin(c(-0.1, 0.3, 1.2, 1.6))),
  plo_z = I(c(-2, 0, 3.5)),
  plo = I(transf.ilogit(c(-2, 0, 3.5))),
  zcor_z = I(c(-0.5, 0.2, 1.1)),
  zcor = I(transf.ztor(c(-0.5, 0.2, 1.1))))

# ---------------------------------------------------------------- rates
ha <- dat.hart1999
datasets$hart <- list(
  description = "metadat::dat.hart1999, warfarin and stroke: events / patient-years, 6 trials",
  study = as.character(ha$study), x1i = I(ha$x1i), t1i = I(ha$t1i), x2i = I(ha$x2i),
  t2i = I(ha$t2i))
# nielweise2007 counts read as events per "exposure" n, only to exercise zero counts
datasets$nielweise_rates <- list(
  description = paste("metadat::dat.nielweise2007 read as rates: ai events over n1i units,",
                      "ci over n2i (zeros; a double zero) -- to exercise rate corrections"),
  study = paste(nw$author, nw$year), x1i = I(nw$ai), t1i = I(nw$n1i), x2i = I(nw$ci),
  t2i = I(nw$n2i))
rate_variants <- variants[c("default", "all", "if0all", "none", "drop00", "add025")]
for (dname in c("hart", "nielweise_rates")) {
  d <- datasets[[dname]]
  vs <- if (dname == "hart") rate_variants["default"] else rate_variants
  for (vname in names(vs)) {
    va <- vs[[vname]]
    es <- do.call(escalc, c(list(measure = "IRR", x1i = d$x1i, t1i = d$t1i, x2i = d$x2i,
                                 t2i = d$t2i), va$args))
    add_case(paste(dname, "IRR", vname, sep = "_"), dname, "IRR",
             list(events = c("x1i", "x2i"), time = c("t1i", "t2i")), es$yi, es$vi,
             paste0("escalc(measure='IRR', x1i, t1i, x2i, t2i",
                    arg_text(va$args), ")"),
             va$options)
    if (vname == "drop00") next
    for (m in c("IR", "IRLN")) {
      es <- do.call(escalc, c(list(measure = m, xi = d$x1i, ti = d$t1i), va$args))
      add_case(paste(dname, m, vname, sep = "_"), dname, m,
               list(events = "x1i", time = "t1i"), es$yi, es$vi,
               paste0("escalc(measure='", m, "', xi = x1i, ti = t1i",
                      arg_text(va$args),
                      ")"),
               va$options)
    }
  }
}

notes <- list(
  source = "metafor 3.8.1 escalc(); metadat 1.2.0",
  numbers = "17 significant digits; null = NA/NaN in R; +-1e999 = +-Inf",
  roles = paste("roles map our arguments to the data set's columns: events/n/means/sds/time",
                "as [treatment, control] (two groups) or one column (one group); cor, n"),
  by_hand = paste("cases whose call starts with 'by hand' use formulas typed here from the",
                  "literature because metafor has no such measure or correction"))

out <- list(notes = notes, datasets = datasets, cases = cases, back_transforms = back)
out_path <- file.path("tests", "reference", "effects_escalc.json")
write_reference(out, out_path)
message("wrote ", out_path, " (", length(cases), " cases)")
