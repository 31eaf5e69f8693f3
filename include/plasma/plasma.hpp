// plasma/plasma.hpp — everything an application needs, in one include.
#pragma once

#include "plasma/args.hpp"
#include "plasma/database.hpp"
#include "plasma/error.hpp"
#include "plasma/expr.hpp"
#include "plasma/live.hpp"
#include "plasma/mutators.hpp"
#include "plasma/operators.hpp"
#include "plasma/row.hpp"
#include "plasma/schema.hpp"
#include "plasma/server_live.hpp"
#include "plasma/value.hpp"
