# Reference values for ipdmeta.stage1.columns (ipdmetan's lcols()/rcols() collapse statistics),
# computed with base R on survival::lung: institutions as trials.
#
# Run from the repository root:
#     Rscript tests/reference/collapse_stats.R
# It writes tests/reference/collapse_stats.json and the rows it used to
# tests/reference/data/collapse_lung.csv (tests/test_collapse.py reads both).
#
# Stata's collapse percentiles (p#, median, iqr) use the definition of summarize/_pctile,
# which is R's quantile(type = 2).  sd is the n - 1 standard deviation; semean sd/sqrt(n);
# sebinomial sqrt(p(1 - p)/n); sepoisson sqrt(mean/n); count the non-missing values;
# percent 100 * count / (all non-missing values); first/last the first/last row's value
# (missing or not), firstnm/lastnm the first/last non-missing value.  Missing values are
# dropped by all the others.

suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

d <- lung[!is.na(lung$inst), c("inst", "age", "wt.loss", "meal.cal", "status", "sex")]
d$dead <- as.integer(d$status == 2)
d$name <- ifelse(d$sex == 1, "", paste("inst", d$inst))   # text, empty for men
d <- d[, c("inst", "age", "wt.loss", "meal.cal", "dead", "name")]
write.csv(d, "tests/reference/data/collapse_lung.csv", row.names = FALSE, na = "")

q2 <- function(p) function(x) { x <- x[!is.na(x)]; if (length(x)) unname(quantile(x, p, type = 2)) else NA }
nm <- function(x) x[!is.na(x)]
stats <- list(
  mean = function(x) if (length(nm(x))) mean(nm(x)) else NA,
  median = q2(0.5), p10 = q2(0.10), p25 = q2(0.25), p90 = q2(0.90), p99 = q2(0.99),
  iqr = function(x) q2(0.75)(x) - q2(0.25)(x),
  sd = function(x) if (length(nm(x)) > 1) sd(nm(x)) else NA,
  semean = function(x) if (length(nm(x)) > 1) sd(nm(x)) / sqrt(length(nm(x))) else NA,
  sum = function(x) sum(nm(x)), count = function(x) length(nm(x)),
  min = function(x) if (length(nm(x))) min(nm(x)) else NA,
  max = function(x) if (length(nm(x))) max(nm(x)) else NA,
  first = function(x) x[1], last = function(x) x[length(x)],
  firstnm = function(x) if (length(nm(x))) nm(x)[1] else NA,
  lastnm = function(x) if (length(nm(x))) rev(nm(x))[1] else NA)

num <- function(x) {
  txt <- ifelse(is.na(x), "null", sprintf("%.17g", x))
  structure(paste0("[", paste(txt, collapse = ", "), "]"), class = "json")
}
ids <- sort(unique(d$inst))
per <- function(var, f) num(sapply(ids, function(i) f(d[d$inst == i, var])))
out <- list(study = ids, variables = list())
for (v in c("age", "wt.loss", "meal.cal")) {
  out$variables[[v]] <- lapply(stats, function(f) per(v, f))
  total <- sum(!is.na(d[[v]]))
  out$variables[[v]]$percent <- num(sapply(ids, function(i) 100 * sum(!is.na(d[d$inst == i, v])) / total))
  out$variables[[v]]$overall <- lapply(stats[c("mean", "median", "sd", "count", "p90")],
                                       function(f) num(f(d[[v]])))
}
p <- sapply(ids, function(i) mean(d$dead[d$inst == i]))
n <- sapply(ids, function(i) sum(d$inst == i))
out$sebinomial_dead <- num(sqrt(p * (1 - p) / n))
out$sepoisson_dead <- num(sqrt(p / n))
out$first_name <- sapply(ids, function(i) { x <- d$name[d$inst == i]; x <- x[x != ""]; if (length(x)) x[1] else "" })
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE, digits = NA, json_verbatim = TRUE),
           "tests/reference/collapse_stats.json")
