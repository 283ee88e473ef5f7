# Reference values for metan's extra pooling methods and metafor's hc() / robust().
#
# Run from the repository root:
#     Rscript tests/reference/stage2_extra.R
# It writes tests/reference/stage2_extra.json, read by tests/test_pool_extra.py (no R there).
# Requires: metafor (3.8.1), metadat, jsonlite.
#
# Where metafor has the method, the numbers are metafor's, with tight control:
#   hc()                       Henmi-Copas (tol 1e-12)
#   robust(cluster, adjust)    sandwich variance (metafor's own code, not clubSandwich),
#                              for test = "z" fits (see the note on test = "knha" below)
#   rma(method = "GENQ", weights = 1/(vi + tau0))  the DerSimonian-Kacker two-step tau2
#                              (tau0 from rma(method = "HE") or "DL")
#   rma(method = "SJ", control = list(tau2.init = tau0))  the Sidik-Jonkman two-step tau2
#                              from another estimator
# The methods metafor does not have are computed here by independent R code written from
# the published formulas (the same definitions as Stata's metan 4.x; see
# docs/methods/pooling.md): Hartung-Makambi, Rukhin B0/BP, multiplicative heterogeneity,
# IVhet, Biggerstaff-Tweedie (weights by integrate(), tau2 interval by uniroot() on
# pgamma()), Kenward-Roger (general matrix formulas of Kenward & Roger 1997 with the REML
# expected information), the HKSJ factor truncated at (z/t)^2, and the Bartlett- and
# Skovgaard-corrected profile likelihood (with tau2 profiled over all roots of its score).

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
level <- 0.95

# ---------------------------------------------------------------- data (metadat)
ds <- list()
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
ds$bcg <- list(description = "dat.bcg, escalc RR; n = total participants; cluster = alloc",
               yi = bcg$yi, vi = bcg$vi, n = with(dat.bcg, tpos + tneg + cpos + cneg),
               cluster = as.character(bcg$alloc), x = bcg$ablat)
ds$hackshaw1998 <- list(description = "dat.hackshaw1998 (37 studies), yi and vi as given",
                        yi = dat.hackshaw1998$yi, vi = dat.hackshaw1998$vi)
rau <- dat.raudenbush1985
ds$raudenbush1985 <- list(description = "dat.raudenbush1985, yi and vi; n = n1i + n2i",
                          yi = rau$yi, vi = rau$vi, n = rau$n1i + rau$n2i)
nor <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
              n2i = n2i, data = dat.normand1999)
ds$normand1999 <- list(description = "dat.normand1999, escalc MD; n = n1i + n2i",
                       yi = nor$yi, vi = nor$vi, n = nor$n1i + nor$n2i)
col <- escalc(measure = "OR", ai = pre.xti, n1i = pre.nti, ci = pre.xci, n2i = pre.nci,
              data = dat.collins1985b)
ds$collins1985b <- list(
  description = paste("dat.collins1985b, pre-eclampsia, escalc OR (the diuretics example of",
                      "Biggerstaff & Tweedie 1997); n = pre.nti + pre.nci"),
  yi = col$yi, vi = col$vi, n = dat.collins1985b$pre.nti + dat.collins1985b$pre.nci)
ds$constructed_outlier <- list(
  description = paste(
    "constructed: 10 studies, one outlying (2.30) and one precise (se 0.10); for fixed mu",
    "near the lower profile-likelihood bound the ML likelihood in tau2 has a boundary",
    "maximum at 0 and a higher interior one, so tau2 must be profiled over all roots"),
  yi = c(0.10, 0.45, 0.15, 0.20, 0.30, 0.35, 0.55, 2.30, 0.05, 0.25),
  vi = c(0.21, 0.27, 0.10, 0.24, 0.28, 0.37, 0.36, 0.41, 0.21, 0.38)^2)
kon <- dat.konstantopoulos2011
ds$konstantopoulos2011 <- list(
  description = "dat.konstantopoulos2011 (56 schools in 11 districts); cluster = district",
  yi = kon$yi, vi = kon$vi, cluster = as.character(kon$district), x = kon$year)

# ---------------------------------------------------------------- helpers
fit <- function(d, method, test = "z") rma(d$yi, d$vi, method = method, test = test,
                                           control = ctrl)

hc_ref <- function(d, lev) {
  h <- hc(rma(d$yi, d$vi, method = "DL", level = 100 * lev), control = list(tol = 1e-12))
  list(level = lev, estimate = h$beta, se = h$se, ci_low = h$ci.lb, ci_high = h$ci.ub,
       tau2 = h$tau2)
}

robust_ref <- function(d, method, cluster_kind, adjust, mods = FALSE) {
  cl <- if (cluster_kind == "study") seq_along(d$yi) else d$cluster
  r <- if (mods) rma(d$yi, d$vi, mods = ~ d$x, method = method, control = ctrl)
       else fit(d, method)
  x <- do.call(robust, list(r, cluster = cl, adjust = adjust))  # (robust() evaluates cluster lazily)
  list(method = method, cluster = cluster_kind, adjust = adjust, mods = mods,
       coef = I(as.numeric(x$beta)), se = I(as.numeric(x$se)), t = I(as.numeric(x$zval)),
       pvalue = I(as.numeric(x$pval)), ci_low = I(as.numeric(x$ci.lb)),
       ci_high = I(as.numeric(x$ci.ub)), df = x$ddf, QM = x$QM, QM_pvalue = x$QMp,
       tau2 = r$tau2)
}

# Kenward-Roger for y_i ~ N(mu, v_i + tau2) at the REML tau2: general matrix formulas
kr_ref <- function(d) {
  tau2 <- fit(d, "REML")$tau2
  X <- matrix(1, length(d$yi), 1)
  Sinv <- diag(1 / (d$vi + tau2))
  Phi <- solve(t(X) %*% Sinv %*% X)
  dSinv <- -Sinv %*% Sinv                       # derivative of Sigma^-1 w.r.t. tau2
  Pm <- t(X) %*% dSinv %*% X
  Qm <- t(X) %*% dSinv %*% solve(Sinv) %*% dSinv %*% X
  Pproj <- Sinv - Sinv %*% X %*% Phi %*% t(X) %*% Sinv
  W <- 1 / (0.5 * sum(diag(Pproj %*% Pproj)))   # inverse REML expected information
  PhiA <- Phi + 2 * Phi %*% (W * (Qm - Pm %*% Phi %*% Pm)) %*% Phi
  a_metan <- W * (PhiA %*% (-Pm))^2              # Theta built from Phi_A (metan)
  a_kr97 <- W * (Phi %*% (-Pm))^2                # Theta built from Phi (pbkrtest)
  b <- as.numeric(Phi %*% t(X) %*% Sinv %*% d$yi)
  list(tau2 = tau2, estimate = b, se = sqrt(as.numeric(PhiA)),
       df = 2 / as.numeric(a_metan), df_phi = 2 / as.numeric(a_kr97))
}

bt_ref <- function(d, lev) {
  y <- d$yi; v <- d$vi; k <- length(y); w <- 1 / v
  mu0 <- sum(w * y) / sum(w); Q <- sum(w * (y - mu0)^2)
  cc <- sum(w) - sum(w^2) / sum(w)
  dd <- sum(w^2) - 2 * sum(w^3) / sum(w) + (sum(w^2) / sum(w))^2
  gam <- function(t) {
    eq <- (k - 1) + cc * t; vq <- 2 * (k - 1) + 4 * cc * t + 2 * dd * t^2
    c(shape = eq^2 / vq, rate = eq / vq)
  }
  tm <- (Q - (k - 1)) / cc
  g <- gam(tm)
  below <- pgamma(k - 1, shape = g[["shape"]], rate = g[["rate"]])
  wt <- sapply(v, function(vi) below / vi + integrate(function(q) dgamma(q, shape = g[["shape"]],
    rate = g[["rate"]]) / (vi + (q - (k - 1)) / cc), k - 1, Inf, rel.tol = 1e-12)$value)
  tau2 <- max(0, tm)
  p_at <- function(t) { h <- gam(t); pgamma(Q, shape = h[["shape"]], rate = h[["rate"]]) }
  bound <- function(target) {
    if (p_at(0) <= target) return(0)
    up <- 1; while (p_at(up) > target) up <- 10 * up
    uniroot(function(t) p_at(t) - target, c(0, up), tol = 1e-14)$root
  }
  est <- sum(wt * y) / sum(wt)
  # given the Biggerstaff-Tweedie weights, estimate and se are metafor's DL model with user
  # weights (its own code for sum(w y)/sum(w) and sum(w^2 (v + tau2_DL))/sum(w)^2)
  mf <- rma(y, v, method = "DL", weights = wt, control = ctrl, level = 100 * lev)
  list(level = lev, weights = I(wt), estimate = est,
       se = sqrt(sum(wt^2 * (v + tau2))) / sum(wt), tau2 = tau2,
       tau2_ci = I(c(bound(0.5 + lev / 2), bound(0.5 - lev / 2))),
       metafor_weighted = list(estimate = as.numeric(mf$b), se = mf$se, ci_low = mf$ci.lb,
                               ci_high = mf$ci.ub))
}

moments_ref <- function(d) {
  y <- d$yi; v <- d$vi; k <- length(y); w <- 1 / v
  mu0 <- sum(w * y) / sum(w); Q <- sum(w * (y - mu0)^2); cc <- sum(w) - sum(w^2) / sum(w)
  out <- list(Q = Q, HM = Q^2 / (cc * (Q + 2 * (k - 1))), BP = sum((y - mean(y))^2) / (k + 1),
              mult_estimate = mu0, mult_se = sqrt(Q / (k - 1) / sum(w)),
              tau2_DL = max(0, (Q - (k - 1)) / cc))
  out$ivhet_se <- sqrt(sum(w^2 * (v + out$tau2_DL))) / sum(w)
  # the same two models from metafor's own code: IVhet is the DL model with user weights
  # 1/v (rma(weights=)); the multiplicative model's se is metafor's EE model with the
  # Knapp-Hartung factor Q/(k - 1) (metafor warns that knha is not meant for EE models;
  # only the se is used)
  iv <- rma(y, v, method = "DL", weights = 1 / v, control = ctrl)
  out$metafor_ivhet <- list(estimate = as.numeric(iv$b), se = iv$se, ci_low = iv$ci.lb,
                            ci_high = iv$ci.ub, tau2 = iv$tau2)
  out$metafor_mult_se <- suppressWarnings(rma(y, v, method = "EE", test = "knha"))$se
  if (!is.null(d$n)) {
    N <- sum(d$n)
    out$B0 <- max(0, out$BP - (N - k) * (k - 1) * mean(v) / ((k + 1) * (N - k + 2)))
  }
  out
}

two_step_ref <- function(d) {
  out <- list()
  for (init in c("HE", "DL")) {
    t0 <- fit(d, init)$tau2
    out[[paste0("DK2S_", init)]] <- rma(d$yi, d$vi, method = "GENQ", weights = 1 / (d$vi + t0),
                                       control = ctrl)$tau2
  }
  for (init in c("DL", "REML", "HE", "PM")) {
    t0 <- fit(d, init)$tau2
    out[[paste0("SJ2S_", init)]] <- if (t0 > 0)
      rma(d$yi, d$vi, method = "SJ", control = c(ctrl, list(tau2.init = t0)))$tau2 else 0
  }
  out$SJ <- fit(d, "SJ")$tau2
  out
}

zovert_ref <- function(d, lev) {
  r <- fit(d, "REML", "knha"); r0 <- fit(d, "REML", "z"); k <- length(d$yi)
  q <- (r$se / r0$se)^2
  f <- max(q, (qnorm(1 - (1 - lev) / 2) / qt(1 - (1 - lev) / 2, k - 1))^2)
  se <- r0$se * sqrt(f); cr <- qt(1 - (1 - lev) / 2, k - 1)
  list(level = lev, q = q, se = se, ci_low = as.numeric(r0$b) - cr * se,
       ci_high = as.numeric(r0$b) + cr * se)
}

# metan's default Q-based heterogeneity statistics (as its Heterogi routine): I2 = (Q - df)/Q,
# H2 = Q/df; the Q interval from a non-central chi2 (common effect) or a Gamma with the
# Biggerstaff-Tweedie variance at the untruncated DL tau2 (random effects); plus the
# prediction interval at a level of its own (rflevel)
het_q_ref <- function(d, lev) {
  y <- d$yi; v <- d$vi; k <- length(y); df <- k - 1; w <- 1 / v
  Q <- sum(w * (y - sum(w * y) / sum(w))^2); a <- 1 - lev
  nc <- max(0, Q - df)
  qc <- c(if (nc == 0) 0 else qchisq(a / 2, df, ncp = nc), qchisq(1 - a / 2, df, ncp = nc))
  W1 <- sum(w); W2 <- sum(w^2); W3 <- sum(w^3); cc <- W1 - W2 / W1
  t2 <- (Q - df) / cc
  vq <- 2 * df + 4 * t2 * cc + 2 * t2^2 * (W2 - 2 * W3 / W1 + (W2 / W1)^2)
  qr <- c(if (Q < df) 0 else qgamma(a / 2, shape = Q^2 / vq, scale = vq / Q),
          qgamma(1 - a / 2, shape = Q^2 / vq, scale = vq / Q))
  i2 <- function(x) 100 * max(0, (x - df) / x)
  tr <- function(q) list(I2_ci = I(c(if (q[1] > 0) i2(q[1]) else 0, 100 * min(1, (q[2] - df) / q[2]))),
                         H2_ci = I(c(max(1, q[1] / df), q[2] / df)))
  r <- fit(d, "REML")
  pr <- predict(r, level = 100 * 0.80)
  crit <- qt(0.9, k - 2)
  list(level = lev, I2 = i2(Q), H2 = max(1, Q / df), common = tr(qc), random = tr(qr),
       pi80_hts = I(as.numeric(r$b) + c(-1, 1) * crit * sqrt(r$se^2 + r$tau2)))
}

# ---------------------------------------------------------------- profile likelihood
ll_ml <- function(mu, t2, y, v) -0.5 * sum(log(2 * pi * (v + t2)) + (y - mu)^2 / (v + t2))
prof_tau2 <- function(mu, y, v) {
  score <- function(t) sum(((y - mu)^2 - (v + t)) / (v + t)^2)
  upper <- max((y - mu)^2); cand <- 0
  if (upper > 0) {
    grid <- c(0, upper * (seq(0, 1, length.out = 4001)[-1])^2)
    s <- vapply(grid, score, numeric(1))
    for (i in which(s[-length(s)] > 0 & s[-1] <= 0))
      cand <- c(cand, uniroot(score, grid[c(i, i + 1)], tol = 1e-15, maxiter = 1000)$root)
  }
  cand[which.max(vapply(cand, function(t) ll_ml(mu, t, y, v), numeric(1)))]
}
pl_ref <- function(d, lev) {
  y <- d$yi; v <- d$vi
  m <- fit(d, "ML"); mu <- as.numeric(m$b); t2 <- m$tau2; top <- ll_ml(mu, t2, y, v)
  w <- 1 / (v + t2)
  bart <- 1 + 2 * sum(w^3) / (sum(w^2) * sum(w)) - 0.5 * sum(w^2) / sum(w)^2
  lr <- function(b) max(0, 2 * (top - ll_ml(b, prof_tau2(b, y, v), y, v)))
  skov <- function(b) {
    s <- lr(b); if (s <= 1e-14) return(0)
    tb <- prof_tau2(b, y, v); wb <- 1 / (v + tb); r <- y - mu
    I <- matrix(c(sum(w), 0, 0, 0.5 * sum(w^2)), 2)
    J <- matrix(c(sum(w), sum(w^2 * r), sum(w^2 * r), -0.5 * sum(w^2) + sum(w^3 * r^2)), 2)
    jtt <- -0.5 * sum(wb^2) + sum(wb^3 * (y - b)^2)
    S <- matrix(c(sum(wb), 0, (mu - b) * sum(wb^2), 0.5 * sum(wb^2)), 2)
    q <- c((mu - b) * sum(wb), -0.5 * sum(w - wb))
    u <- abs(solve(S, q)[1]) * sqrt(abs(det(J))) * abs(det(S)) / (sqrt(abs(jtt)) * abs(det(I)))
    rr <- sqrt(s)
    sign(mu - b) * (rr + log(u / rr) / rr)
  }
  root <- function(f, dir) {
    step <- 2 / sqrt(sum(w)); while (f(mu + dir * step) < 0) step <- 2 * step
    uniroot(f, sort(c(mu, mu + dir * step)), tol = 1e-13, maxiter = 1000)$root
  }
  chi <- qchisq(lev, 1); z <- qnorm(1 - (1 - lev) / 2)
  fb <- function(b) lr(b) - chi * bart
  fs <- function(b) abs(skov(b)) - z
  fp <- function(b) lr(b) - chi
  list(level = lev, estimate = mu, tau2 = t2, bartlett_factor = bart,
       pl = list(ci_low = root(fp, -1), ci_high = root(fp, 1),
                 pvalue = pchisq(lr(0), 1, lower.tail = FALSE)),
       bartlett = list(ci_low = root(fb, -1), ci_high = root(fb, 1),
                       statistic = lr(0) / bart, pvalue = pchisq(lr(0) / bart, 1, lower.tail = FALSE)),
       skovgaard = list(ci_low = root(fs, -1), ci_high = root(fs, 1), statistic = skov(0),
                        pvalue = 2 * pnorm(-abs(skov(0)))))
}

# ---------------------------------------------------------------- run
results <- list()
for (dn in names(ds)) {
  d <- ds[[dn]]
  message("data set ", dn)
  res <- list(description = d$description, yi = I(as.numeric(d$yi)), vi = I(as.numeric(d$vi)))
  if (!is.null(d$n)) res$n <- I(as.numeric(d$n))
  if (!is.null(d$cluster)) res$cluster <- I(d$cluster)
  if (!is.null(d$x)) res$x <- I(as.numeric(d$x))
  res$hc <- list(hc_ref(d, 0.95), hc_ref(d, 0.90))
  rob <- list()
  for (m in c("REML", "DL")) for (a in c(TRUE, FALSE)) {
    rob[[length(rob) + 1]] <- robust_ref(d, m, "study", a)
    if (!is.null(d$cluster)) rob[[length(rob) + 1]] <- robust_ref(d, m, "cluster", a)
    if (!is.null(d$x)) rob[[length(rob) + 1]] <- robust_ref(d, m, if (is.null(d$cluster))
      "study" else "cluster", a, mods = TRUE)
  }
  res$robust <- rob
  res$moments <- moments_ref(d)
  res$two_step <- two_step_ref(d)
  res$kr <- kr_ref(d)
  res$bt <- list(bt_ref(d, 0.95), bt_ref(d, 0.90))
  res$zovert <- list(zovert_ref(d, 0.95), zovert_ref(d, 0.90))
  res$het_q <- list(het_q_ref(d, 0.95), het_q_ref(d, 0.90))
  if (dn != "konstantopoulos2011") res$pl <- list(pl_ref(d, 0.95), pl_ref(d, 0.90))
  results[[dn]] <- res
}
kh <- fit(ds$bcg, "REML", "knha")
knha_note <- list(robust_se_test_z = do.call(robust, list(fit(ds$bcg, "REML"), cluster = 1:13))$se,
                  robust_se_test_knha = do.call(robust, list(kh, cluster = 1:13))$se,
                  s2w = kh$s2w)

notes <- list(
  generated_by = "tests/reference/stage2_extra.R",
  R_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  robust_knha = paste(
    "metafor 3.8.1 robust() on a test='knha' fit uses the Knapp-Hartung-scaled vcov in its",
    "bread, so its se is s2w times the test='z' value (bcg REML: see knha_note); ipdmeta's",
    "robust() does not depend on ci= and equals metafor's for test='z'/'t' fits"),
  knha_note = knha_note,
  kr = paste("df: theta from the adjusted Phi_A (metan, Morris et al. 2018); df_phi: theta",
             "from the unadjusted Phi (Kenward & Roger 1997 as pbkrtest)"),
  numbers = "17 significant digits"
)

fmt_num <- function(x) ifelse(is.na(x), "null", sprintf("%.17g", as.double(x)))
to_json_tree <- function(x) {
  if (is.list(x) && !is.data.frame(x)) return(lapply(x, to_json_tree))
  asis <- inherits(x, "AsIs")
  if (is.logical(x)) return(x)
  if (is.numeric(x)) {
    s <- fmt_num(x)
    if (asis || length(x) != 1) s <- paste0("[", paste(s, collapse = ","), "]")
    return(structure(s, class = "json"))
  }
  if (asis) return(structure(as.character(toJSON(unclass(x))), class = "json"))
  x
}
out_path <- file.path("tests", "reference", "stage2_extra.json")
write_json(to_json_tree(list(notes = notes, datasets = results)), out_path, auto_unbox = TRUE,
           json_verbatim = TRUE, pretty = TRUE, digits = NA, na = "null")
message("wrote ", out_path)
