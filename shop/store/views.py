from shop.store import bp


@bp.get("/")
def index():
    return "store"
